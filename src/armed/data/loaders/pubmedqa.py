"""PubMedQA: yes / no / maybe questions answered from PubMed abstracts (the expert-labelled PQA-L set).

Jin et al., "PubMedQA: A Dataset for Biomedical Research Question Answering", EMNLP 2019.
https://github.com/pubmedqa/pubmedqa (MIT).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from armed.data.io import Record, find_one, find_split_files, iter_table, read_json
from armed.data.loader import Exclude, FileLoader, Row
from armed.data.schema import Sample, SampleError
from armed.registry import DATASETS

ANSWER_SET = ("yes", "no", "maybe")
FILES = {"pqal": "ori_pqal.json", "pqaa": "ori_pqaa.json"}
TEST_IDS = "test_ground_truth.json"


@DATASETS.register("pubmedqa", description="PubMedQA yes/no/maybe from abstracts (ori_pqal.json; test = 500 PMIDs)")
class PubMedQALoader(FileLoader):
    """PubMedQA PQA-L (1,000 expert-labelled) or PQA-A (211k generated, subset=pqaa).

    The reasoning-required setting: the question is asked with the abstract's context (without its
    conclusion, ``LONG_ANSWER``, which is kept in meta). The standard test split is the 500 PMIDs listed in
    ``test_ground_truth.json``; ``train`` is the other 500; ``all`` is every labelled question.
    """

    name = "pubmedqa"
    description = "PubMedQA: yes/no/maybe biomedical research questions with the abstract as context"
    splits = ("train", "test", "all")
    default_split = "test"
    source_url = "https://github.com/pubmedqa/pubmedqa"
    license = "MIT"
    citation = "Jin et al., EMNLP 2019"
    layout = (f"DIR/{FILES['pqal']} ({{PMID: {{QUESTION, CONTEXTS, LABELS, LONG_ANSWER, final_decision}}}}) + "
              f"DIR/{TEST_IDS} (the 500 test PMIDs) for the train/test split; DIR/{FILES['pqaa']} for subset=pqaa; "
              "or the HF parquet DIR/pqa_labeled/train-*.parquet (qiaojin/PubMedQA)")
    expected_counts: ClassVar[dict[str, int]] = {"train": 500, "test": 500, "all": 1000}
    answer_type_rule = "closed: final_decision yes / no / maybe (the prompt lists all three)"
    option_defaults: ClassVar[dict[str, Any]] = {"subset": "pqal"}
    option_choices: ClassVar[dict[str, tuple]] = {"subset": tuple(FILES)}

    def records(self, root: Path, split: str, options: dict[str, Any]) -> Iterator[Record]:
        path = find_one(root, FILES[options["subset"]])
        hf = [] if path is not None else find_split_files(root, ["train"], exts=("parquet",))
        hf = [f for f in hf if ("pqa_labeled" if options["subset"] == "pqal" else "pqa_artificial") in f.as_posix()]
        if path is None and not hf:
            raise self.missing(root, f"{FILES[options['subset']]} (or the HF parquet "
                                     f"pqa_{'labeled' if options['subset'] == 'pqal' else 'artificial'}/train-*.parquet)")
        self._test_ids: set[str] | None = None
        if split != "all":
            if options["subset"] == "pqaa":
                raise ValueError("pubmedqa subset=pqaa has no test split: use split='all'")
            ids_path = find_one(root, TEST_IDS)
            if ids_path is None:
                raise self.missing(root, f"{TEST_IDS} (needed for split {split!r}; split 'all' works without it)")
            ids = read_json(ids_path)
            if not isinstance(ids, dict):
                raise SampleError("expected an object {PMID: label}", file=str(ids_path))
            self._test_ids = {str(k) for k in ids}
        if path is None:  # HF qiaojin/PubMedQA: pubid, question, context{contexts, labels, meshes}, ...
            for f in hf:
                for rec in iter_table(f):
                    yield rec if rec.data is None else Record(rec.file, rec.row, _from_hf(rec.data))
            return
        data = read_json(path)
        if not isinstance(data, dict):
            raise SampleError(f"expected an object {{PMID: record}}, found {type(data).__name__}", file=str(path))
        for i, (pmid, item) in enumerate(data.items(), start=1):
            if isinstance(item, dict):
                yield Record(path, i, {"PMID": pmid, **item})
            else:
                yield Record(path, i, None, f"malformed row: PMID {pmid} is not an object")

    def make_sample(self, row: Row) -> Sample:
        pmid = row.text("PMID")
        if self._test_ids is not None and (pmid in self._test_ids) != (row.split == "test"):
            raise Exclude("PMID in the other split")
        decision = row.text("final_decision").lower()
        if decision not in ANSWER_SET:
            raise row.error(f"unknown answer {decision!r} (expected yes, no or maybe)", "final_decision")
        contexts, labels = row.get("CONTEXTS"), row.get("LABELS", [])
        if not isinstance(contexts, list) or not contexts:
            raise row.error("CONTEXTS must be a non-empty list", "CONTEXTS")
        labels = labels if isinstance(labels, list) and len(labels) == len(contexts) else [""] * len(contexts)
        context = "\n".join(f"{lab.title()}: {c}" if lab else str(c) for lab, c in zip(labels, contexts, strict=True))
        return Sample(
            id=pmid, source=self.name, split=row.split, question=f"{context}\n\nQuestion: {row.text('QUESTION')}",
            answer=decision, answer_type="closed",
            meta={"answer_set": list(ANSWER_SET), "pmid": pmid, "long_answer": row.text("LONG_ANSWER", ""),
                  "question_only": row.text("QUESTION"), "meshes": row.get("MESHES", [])},
        )


def _from_hf(row: dict[str, Any]) -> dict[str, Any]:
    """A row of the HF parquet in the release's field names (so one converter serves both)."""
    context = row.get("context") if isinstance(row.get("context"), dict) else {}
    return {"PMID": row.get("pubid"), "QUESTION": row.get("question"), "CONTEXTS": context.get("contexts"),
            "LABELS": context.get("labels") or [], "MESHES": context.get("meshes") or [],
            "LONG_ANSWER": row.get("long_answer"), "final_decision": row.get("final_decision")}
