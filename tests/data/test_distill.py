"""CoT distillation against a loopback OpenAI-compatible fake teacher: checking, dropping, counting, resuming."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from armed.data.distill import DistillConfig, distill, split_reasoning
from armed.data.filter import read_done, read_samples
from armed.data.loader import Loader, LoadReport
from armed.data.schema import Sample

# question → the fake teacher's reply (None: HTTP 400, a request that fails)
REPLIES = {
    "Is there a pneumothorax?": "<think>The lung edge is visible with no markings beyond it.</think>"
                                "<answer>yes</answer>",
    "Is the heart enlarged?": "<think>The cardiothoracic ratio looks above 0.5.</think><answer>yes</answer>",
    "Which organ is imaged?": "",
    "What modality is this?": "<answer>CT</answer>",
    "Is there an effusion?": None,
}
ANSWERS = {"Is there a pneumothorax?": "yes", "Is the heart enlarged?": "no", "Which organ is imaged?": "liver",
           "What modality is this?": "CT", "Is there an effusion?": "no"}


def _samples() -> list[Sample]:
    return [Sample(id=f"d{i}", source="toy", split="train", question=q, answer=a,
                   answer_type="closed" if a in ("yes", "no") else "open") for i, (q, a) in enumerate(ANSWERS.items())]


class ToyLoader(Loader):
    name = "toy-distill"
    needs_path = False

    def load(self, path=None, split=None, *, skip_bad=False, **options):
        return _samples(), LoadReport(rows_read=5, kept=5)


@pytest.fixture
def teacher_server():
    requests: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802  (http.server's name)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
            user = body["messages"][-1]["content"]
            question = (user if isinstance(user, str) else user[-1]["text"]).split("\n")[0]
            reply = REPLIES[question]
            if reply is None:
                self.send_response(400)
                self.end_headers()
                return
            data = json.dumps({"choices": [{"message": {"role": "assistant", "content": reply}}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1", requests
    server.shutdown()
    server.server_close()


def test_split_reasoning():
    assert split_reasoning("<think>a b</think><answer>c</answer>") == ("a b", "c")
    assert split_reasoning("Because x.\n<answer>c</answer>") == ("Because x.", "c")
    assert split_reasoning("<answer>c</answer>") == (None, "c")


def test_cli_distills_from_an_endpoint_keeps_only_checked_answers(teacher_server, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from armed.cli import app

    url, requests = teacher_server
    monkeypatch.setenv("TEACHER_KEY", "sk-test")
    out = tmp_path / "cot"
    args = ["data", "distill", "--dataset", "test_distill:ToyLoader", "--teacher", "big-med-model",
            "--base-url", url, "--api-key-env", "TEACHER_KEY", "--check", "accuracy", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    # pneumothorax kept; heart: teacher says yes, reference no → wrong; organ: no answer; modality: answer
    # without reasoning; effusion: HTTP 400 → failed.
    assert summary["counts"] == {"questions": 5, "kept": 1, "wrong": 1, "no_answer": 1, "no_reasoning": 1,
                                 "failed": 1}
    assert "kept 1/5" in result.output
    kept = read_samples(out / "cot.jsonl")
    assert [s.id for s in kept] == ["d0"]
    assert kept[0].meta["completion"] == ("<think>The lung edge is visible with no markings beyond it.</think>"
                                          "<answer>yes</answer>")
    assert kept[0].meta["cot"].startswith("The lung edge")
    first = requests[0]
    assert first["path"] == "/v1/chat/completions" and first["auth"] == "Bearer sk-test"
    assert first["body"]["model"] == "big-med-model" and first["body"]["messages"][0]["role"] == "system"
    n_requests = len(requests)

    again = CliRunner().invoke(app, args)  # resumes: everything is done, nothing is asked again
    assert again.exit_code == 0 and len(requests) == n_requests


def test_distill_resumes_after_a_kill(tmp_path):
    samples = _samples()
    calls: list[list[str]] = []

    def teacher(prompts, images):
        questions = [p[-1]["content"].split("\n")[0] for p in prompts]
        calls.append(questions)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return [REPLIES[q] for q in questions]

    cfg = DistillConfig(dataset="toy", batch_size=2, check="accuracy")
    with pytest.raises(KeyboardInterrupt):
        distill(samples, cfg, tmp_path, teacher, progress=False)
    assert sorted(read_done(tmp_path / "results.jsonl")) == ["d0", "d1"]
    calls.clear()

    def teacher_ok(prompts, images):
        questions = [p[-1]["content"].split("\n")[0] for p in prompts]
        calls.append(questions)
        return [REPLIES[q] for q in questions]

    summary = distill(samples, cfg, tmp_path, teacher_ok, progress=False)
    assert [q for batch in calls for q in batch] == list(ANSWERS)[2:]
    assert summary["counts"]["kept"] == 1 and summary["counts"]["wrong"] == 1


def test_local_teacher_runs_and_every_question_gets_a_verdict(tmp_path, tiny_chat_lm):
    """A local transformers teacher (tiny random Llama with SmolLM2's tokenizer): random text is never kept."""
    from armed.data.distill import local_teacher

    folder = tiny_chat_lm
    cfg = DistillConfig(dataset="toy", teacher=str(folder), max_new_tokens=4, batch_size=4, dtype="float32",
                        limit=3)
    teacher = local_teacher(cfg)
    assert teacher.is_vlm is False
    summary = distill(_samples(), cfg, tmp_path / "out", teacher, progress=False)
    counts = summary["counts"]
    assert counts["questions"] == 3 and sum(counts[v] for v in ("kept", "wrong", "no_answer", "no_reasoning",
                                                                 "failed")) == 3
    assert counts["kept"] == 0 and counts["failed"] == 0
    assert all(isinstance(r["reply"], str) for r in read_done(tmp_path / "out" / "results.jsonl").values())


def test_endpoint_teacher_sends_images_as_data_urls(teacher_server, tmp_path):
    import numpy as np
    from PIL import Image

    from armed.data.distill import endpoint_teacher

    url, requests = teacher_server
    scan = tmp_path / "scan.png"
    Image.fromarray((np.random.default_rng(0).random((16, 16)) * 255).astype("uint8")).save(scan)
    sample = Sample(id="img0", source="toy", split="train", question="Is there a pneumothorax?", answer="yes",
                    answer_type="closed", images=[str(scan)])
    cfg = DistillConfig(dataset="toy", teacher="vlm-teacher", base_url=url)
    summary = distill([sample], cfg, tmp_path / "out", endpoint_teacher(cfg), progress=False)
    assert summary["counts"]["kept"] == 1
    user = requests[-1]["body"]["messages"][-1]["content"]
    assert user[0]["type"] == "image_url" and user[0]["image_url"]["url"].startswith("data:image/png;base64,")
    assert user[-1]["type"] == "text" and user[-1]["text"].startswith("Is there a pneumothorax?")
