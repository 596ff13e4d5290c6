"""nbval settings for every lesson: compare printed text, not HTML, widget views or stderr.

Images and widget views are skipped by nbval already; HTML reprs (pandas tables, widget
fallbacks) and stderr (TensorFlow's start-up logs, warnings) vary between machines and
versions, so they are skipped here too. Printed stdout and text/plain results are compared.
"""


def pytest_collectstart(collector):
    if collector.fspath and collector.fspath.ext == ".ipynb":
        collector.skip_compare += (
            "text/html",
            "application/javascript",
            "application/vnd.jupyter.widget-state+json",
            "image/svg+xml",
            "stderr",
        )
