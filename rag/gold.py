"""Question files: gold sets and batches (JSONL), SQuAD 2.0 files, and rated answers turned into
gold-set candidates (`rag eval --export-feedback`). Every line is checked before a model loads;
a bad one raises GoldFormatError naming FILE:LINE."""
from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterable

Record = dict[str, Any]


class GoldFormatError(ValueError):
    """A gold or batch file line that cannot be used; the message names FILE:LINE."""


# --- reading questions --------------------------------------------------------------------------


def _read_text(path: Path) -> str:
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    if not path.is_file():
        raise GoldFormatError(f"{path} is not a file")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise GoldFormatError(f"{path}: not valid UTF-8 (byte {exc.start})") from None
    except OSError as exc:
        raise GoldFormatError(f"{path}: cannot read ({exc.strerror or exc})") from None


def _string_list(record: Record, key: str, where: str, *, required: bool) -> list[str]:
    if key not in record:
        if required:
            raise GoldFormatError(f'{where}: missing "{key}" (a list of strings; [] = unanswerable)')
        return []
    value = record[key]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise GoldFormatError(f'{where}: "{key}" must be a list of strings, got {json.dumps(value)[:60]}')
    return value


def read_questions(path: Path | str, *, gold: bool = False) -> list[Record]:
    """The questions of a JSONL file, one object a line, validated before any model loads.

    Each record comes back with ``id`` (a string; the line number when absent), ``question``,
    ``history``, ``sources`` and, when present, ``answers``; other keys are kept. With
    ``gold=True`` (`rag eval`) every line must carry ``answers``. Raises GoldFormatError
    naming ``FILE:LINE`` on the first bad line.
    """
    path = Path(path)
    records: list[Record] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(_read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise GoldFormatError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(record, dict):
            raise GoldFormatError(f"{where}: each line must be a JSON object, got {type(record).__name__}")
        question = record.get("question")
        if not isinstance(question, str) or not question.strip():
            raise GoldFormatError(f'{where}: missing or empty "question"')
        qid = record.get("id", str(number))
        if not isinstance(qid, (str, int)) or isinstance(qid, bool) or not str(qid).strip():
            raise GoldFormatError(f'{where}: "id" must be a non-empty string or number')
        qid = str(qid)
        if qid in seen:
            raise GoldFormatError(f"{where}: duplicate id {qid!r} (first on line {seen[qid]})")
        seen[qid] = number
        record = {**record, "id": qid}
        if gold or "answers" in record:
            record["answers"] = _string_list(record, "answers", where, required=gold)
        record["sources"] = _string_list(record, "sources", where, required=False)
        record["history"] = _string_list(record, "history", where, required=False)
        records.append(record)
    return records


def question_article(record: Record) -> str | None:
    """The article a question was written over: its ``article`` (unanswerable questions carry
    one too), else its first source."""
    return record.get("article") or (record["sources"][0] if record.get("sources") else None)


def read_squad(path: Path | str) -> tuple[list[Any], list[Record]]:
    """A SQuAD 2.0 file as (one Document per article, one gold record per question).

    Doc id = article title, text = its paragraphs joined by blank lines; answers = the unique
    answer texts (none for ``is_impossible``), sources = [title].
    """
    from rag.ingest import make_document

    path = Path(path)
    try:
        articles = json.loads(_read_text(path))["data"]
        documents, golds = [], []
        for article in articles:
            title = article["title"]
            text = "\n\n".join(p["context"].strip() for p in article["paragraphs"])
            documents.append(make_document(title, text, str(path), title=title.replace("_", " ")))
            for paragraph in article["paragraphs"]:
                for qa in paragraph["qas"]:
                    answers = [] if qa.get("is_impossible") else [a["text"] for a in qa["answers"]]
                    golds.append({
                        "id": str(qa["id"]), "question": qa["question"],
                        "answers": list(dict.fromkeys(answers)), "sources": [title], "history": [],
                    })
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else f"missing or malformed {exc}"
        raise GoldFormatError(f"{path}: not a SQuAD 2.0 file ({reason})") from None
    return documents, golds


def write_jsonl(path: Path, records: Iterable[Record]) -> None:
    """Write all lines or none: a temp file in the same folder, then one rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            for record in records:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# --- feedback export ----------------------------------------------------------------------------

_UP = {"up", "+1", "1", "thumbs_up", "thumbs-up", "good", "like", "liked", "yes", "true", "👍"}
_DOWN = {"down", "-1", "0", "thumbs_down", "thumbs-down", "bad", "dislike", "disliked", "no", "false", "👎"}


def _rating(record: Record) -> bool | None:
    """True for a thumbs-up, False for a thumbs-down, None when the record holds no rating."""
    for key in ("rating", "vote", "feedback", "thumbs", "liked", "helpful"):
        value = record.get(key)
        if isinstance(value, bool):
            return value
        if isinstance(value, (int, float, str)):
            text = str(value).strip().lower()
            if text in _UP:
                return True
            if text in _DOWN:
                return False
    return None


def feedback_candidates(path: Path) -> tuple[list[Record], list[str]]:
    """Gold-set candidates from a feedback log, plus one warning per line skipped.

    A thumbs-up keeps the answer and its cited documents (an upvoted abstention becomes an
    unanswerable question); a thumbs-down keeps the question for a person to fill in. The id
    hashes question and history, so re-exporting gives stable ids and the latest rating wins.
    """
    candidates: dict[str, Record] = {}
    warnings: list[str] = []
    for number, line in enumerate(_read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            warnings.append(f"skipped {path}:{number}: not valid JSON")
            continue
        if not isinstance(record, dict):
            warnings.append(f"skipped {path}:{number}: not a JSON object")
            continue
        # the answer may be stored flat or as a nested Answer.to_dict() record
        reply = record["answer"] if isinstance(record.get("answer"), dict) else record
        question = record.get("question") or reply.get("question")
        liked = _rating(record)
        if not isinstance(question, str) or not question.strip() or liked is None:
            warnings.append(f"skipped {path}:{number}: needs a question and a thumbs-up/down rating")
            continue
        history = record.get("history") if isinstance(record.get("history"), list) else []
        history = [h for h in history if isinstance(h, str)]
        answer = reply.get("answer") if not reply.get("abstained") else None
        cited = [c["doc"] for c in reply.get("citations") or [] if isinstance(c, dict) and "doc" in c]
        cited = cited or [s for s in record.get("sources") or [] if isinstance(s, str)]
        qid = "fb-" + hashlib.sha1(json.dumps([question, history]).encode("utf-8")).hexdigest()[:10]
        candidate: Record = {"id": qid, "question": question}
        if liked:
            candidate["answers"] = [answer] if isinstance(answer, str) and answer.strip() else []
            candidate["sources"] = list(dict.fromkeys(cited)) if candidate["answers"] else []
        else:
            candidate.update(answers=[], sources=[], needs_review=True)
            if isinstance(answer, str):
                candidate["rejected_answer"] = answer
        if history:
            candidate["history"] = history
        candidates.pop(qid, None)  # re-insert so the file follows the latest rating's order
        candidates[qid] = candidate
    return list(candidates.values()), warnings


def export_feedback(index_dir: Path, out_path: Path) -> int:
    """`rag eval --export-feedback`: write the gold-set candidates of the index's feedback log."""
    from rag.store import FEEDBACK_FILE

    log = index_dir / FEEDBACK_FILE
    if not log.exists():
        raise FileNotFoundError(f"no rated answers yet: {log} does not exist")
    candidates, warnings = feedback_candidates(log)
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    write_jsonl(out_path, candidates)
    review = sum(bool(c.get("needs_review")) for c in candidates)
    print(f"wrote {len(candidates)} gold-set candidates to {out_path} "
          f"({len(candidates) - review} confirmed, {review} need review)")
    return 0
