"""`explainer explain`, `replay` and `generate` end to end on tiny-shapes, in-process."""

from __future__ import annotations

import re

import numpy as np
import pytest

from explainer.cli import main
from explainer.report import FILES, SECTIONS
from explainer.diffusion.trace import Trace

PROMPT = "a small red circle on the left"


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """One explain run (12 steps to keep it quick), shared by the tests below."""
    out = tmp_path_factory.mktemp("explain") / "report"
    code = main(["explain", PROMPT, "--out", str(out), "--steps", "12", "--seed", "3",
                 "--quiet"])
    assert code == 0
    return out


def test_explain_writes_every_file(report):
    assert sorted(p.name for p in report.iterdir()) == sorted(FILES + ("trace.npz",))
    assert not list(report.parent.glob(".report.*"))               # no temporary folder left


def test_page_is_self_contained_with_every_section(report):
    page = (report / "index.html").read_text(encoding="utf-8")
    for name in SECTIONS:
        assert f'<section id="{name}">' in page
    assert "http://" not in page and "https://" not in page
    assert not re.search(r'src="(?!data:)', page)                   # every image embedded
    assert page.count('src="data:image/png;base64,') >= 6
    assert 'src="data:image/gif;base64,' in page
    assert "--seed 3 --steps 12" in page                            # the command to rerun it
    # the attention section: the atlas explain recorded (the prompt's 9 tokens, its branch)
    section = page.split('<section id="attention">')[1].split("</section>")[0]
    assert section.count('src="data:image/png;base64,') == 2
    assert "every layer (rows) at six steps" in section
    trace = Trace.load(report / "trace.npz")
    assert trace.metadata["atlas"]["tokens"] == list(range(9))
    assert trace.metadata["atlas"]["branches"] == ["cond"]
    assert "&lt;|startoftext|&gt;" in page                          # the token table


def test_trace_reloads_with_previews(report):
    trace = Trace.load(report / "trace.npz")
    assert trace.metadata["prompts"] == [PROMPT] and trace.metadata["seeds"] == [3]
    n = len(trace.steps)
    for row in ("latents_in", "pred_x0"):
        assert trace.previews[row].shape == (n, 64, 64, 3)
        assert trace.previews[row].dtype == np.uint8
    from PIL import Image

    np.testing.assert_array_equal(np.asarray(Image.open(report / "image.png")), trace.images[0])


def test_replay_gives_the_same_page(report, tmp_path, capsys):
    out = tmp_path / "again"
    assert main(["replay", str(report / "trace.npz"), "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out / "index.html")
    for name in FILES:
        assert (out / name).read_bytes() == (report / name).read_bytes(), name


def test_explain_prints_the_page_path(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["explain", PROMPT, "--out", str(out), "--steps", "2", "--quiet"]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == str(out / "index.html")
    assert "denoising" not in captured.err                         # --quiet: no progress bar


def test_generate_writes_one_picture_per_seed(tmp_path, capsys):
    out = tmp_path / "pics" / "shape.png"
    assert main(["generate", PROMPT, "--seeds", "0", "1", "--steps", "2", "--quiet",
                 "--out", str(out)]) == 0
    written = capsys.readouterr().out.split()
    assert written == [str(tmp_path / "pics" / "shape-seed0.png"),
                       str(tmp_path / "pics" / "shape-seed1.png")]
    assert sorted(p.name for p in out.parent.iterdir()) == ["shape-seed0.png", "shape-seed1.png"]


def test_precision_options_reach_the_run(tmp_path):
    """--dtype/--low-memory/--xla reach the pipeline: the trace's metadata says what ran."""
    out = tmp_path / "trace"
    assert main(["explain", PROMPT, "--steps", "2", "--quiet", "--dtype", "bfloat16",
                 "--low-memory", "--xla", "--out", str(out)]) == 0
    metadata = Trace.load(out / "trace.npz").metadata
    assert metadata["precision"]["unet"] == "bfloat16" and metadata["precision"]["low_memory"]
    assert metadata["jit_compile"] == {"text_encoder": "xla", "unet": "xla", "vae": "xla"}


@pytest.mark.parametrize("extra, message", [
    (["--preset", "sd-v2"], "invalid choice: 'sd-v2'"),
    (["--size", "100x100"], "multiple of 32"),
    (["--size", "64"], "not WxH"),
    (["--steps", "-3"], "--steps -3"),
    (["--steps", "0"], "--steps 0"),
    (["--seed", "-1"], "non-negative"),
    (["--scheduler", "heun"], "invalid choice: 'heun'"),
    (["--preset", "sd-v1-5"], "needs --weights"),
    (["--preset", "sd-v1-5", "--weights", "/nonexistent/sd15"], "no such folder"),
    (["--low-memory"], "add --dtype bfloat16"),
    (["--dtype", "int8"], "invalid choice: 'int8'"),
])
def test_bad_arguments_exit_2_before_any_model(extra, message, tmp_path, capsys, monkeypatch):
    import explainer.diffusion.loading

    def no_model(*args, **kwargs):
        raise AssertionError("a model was loaded for bad arguments")

    monkeypatch.setattr(explainer.diffusion.loading, "load_pipeline", no_model)
    out = tmp_path / "never"
    with pytest.raises(SystemExit) as exit_info:
        main(["explain", PROMPT, "--out", str(out), *extra])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []                          # nothing written


def test_unwritable_out_exits_2(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    for out, message in ((blocker, "is a file"), (blocker / "report", "not a writable folder")):
        with pytest.raises(SystemExit) as exit_info:
            main(["explain", PROMPT, "--out", str(out)])
        assert exit_info.value.code == 2
        assert message in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["a-file"]
    assert blocker.read_text() == "not a folder"


def test_replay_of_a_missing_or_bad_trace(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["replay", str(tmp_path / "missing.npz"), "--out", str(tmp_path / "r")])
    assert exit_info.value.code == 2
    assert "no such file" in capsys.readouterr().err
    bad = tmp_path / "bad.npz"
    np.savez(bad, a=np.zeros(3))
    assert main(["replay", str(bad), "--out", str(tmp_path / "r")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("explainer replay: error:") and "not a trace" in err
    assert err.count("\n") == 1                                    # one line, no traceback
    assert not (tmp_path / "r").exists()


def test_a_failure_while_writing_leaves_nothing(report, tmp_path, capsys, monkeypatch):
    import explainer.report

    def broken(self, folder):
        (folder / "index.html").write_text("half a page")
        raise OSError("disk full")

    monkeypatch.setattr(explainer.report.Report, "write", broken)
    out = tmp_path / "r"
    assert main(["replay", str(report / "trace.npz"), "--out", str(out)]) == 1
    assert capsys.readouterr().err == "explainer replay: error: disk full\n"
    assert list(tmp_path.iterdir()) == []                          # no DIR, no temporary folder


def test_progress_bar_on_stderr_unless_quiet(tmp_path, capsys):
    assert main(["generate", PROMPT, "--steps", "2", "--out", str(tmp_path / "a.png")]) == 0
    captured = capsys.readouterr()
    assert "denoising" in captured.err and captured.out.strip() == str(tmp_path / "a.png")
