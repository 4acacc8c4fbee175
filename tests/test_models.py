import os
import subprocess
import sys
from pathlib import Path

import pytest

from armed.models import EMBEDDED, ModelNotFoundError, armed_home, resolve
from armed.registry import MODELS


def test_embedded_models_are_registered():
    assert {"smollm2-135m-instruct", "minilm-l6"} <= set(MODELS.names())
    assert EMBEDDED["minilm-l6"].kind == "sentence-embedder"


def test_local_folder_resolves_to_itself(tmp_path):
    assert resolve(tmp_path) == tmp_path


def test_file_path_is_rejected(tmp_path):
    f = tmp_path / "model.bin"
    f.write_text("x")
    with pytest.raises(ModelNotFoundError, match="is a file"):
        resolve(f)


def test_missing_hub_id_gives_one_line_error(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    with pytest.raises(ModelNotFoundError) as info:
        resolve("no-such-org/no-such-model-xyz")
    msg = str(info.value)
    assert "no-such-org/no-such-model-xyz" in msg and "local folder" in msg and "\n" not in msg


def test_nonsense_name_is_rejected():
    with pytest.raises(ModelNotFoundError, match="neither an embedded model"):
        resolve("./definitely/not/here")


def test_armed_home_honours_env(monkeypatch, tmp_path):
    monkeypatch.setenv("ARMED_HOME", str(tmp_path))
    assert armed_home() == tmp_path


def test_cli_missing_model_exits_nonzero_with_one_line(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "armed.cli", "models", "no-such-org/missing-model"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert "no-such-org/missing-model" in lines[0]
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_embedded_models_load_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from armed.models import load_causal_lm, load_sentence_encoder

    model, tokenizer = load_causal_lm("smollm2-135m-instruct")
    assert model.config.model_type == "llama"
    assert tokenizer.chat_template and "im_start" in tokenizer.chat_template
    folder = resolve("smollm2-135m-instruct")
    assert (folder / "model.safetensors").exists() and (folder / ".complete").exists()
    encoder = load_sentence_encoder("minilm-l6")
    emb = encoder.encode(["pneumothorax", "collapsed lung"])
    assert emb.shape == (2, 384)
    assert Path(resolve("minilm-l6")).is_dir()
