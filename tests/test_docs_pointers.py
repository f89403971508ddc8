"""Comments and docs point at facts inside this repository: a pointer such as `docs/AWS.md, "ECR"` names a
section that docs/X.md has, and nothing points at material outside the repository (a maintainer who clones
it has only what is in it)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ["reconciler", "tests", "benchmarks", "docs", "scripts", ".github"]
# `docs/AWS.md, "IAM evaluation"` or `docs/AWS.md ("IAM evaluation")`, the title possibly wrapped onto a
# comment's next line.
POINTER = re.compile(r'docs/([A-Z_]+\.md)(?:,\s*|\s+\(?)"([^"]{1,120})"')
OUTSIDE = re.compile(r"\.\./shared|shared/reference\.md")


def files() -> list[Path]:
    found = [ROOT / "README.md"]
    for top in SCANNED:
        found += [p for p in (ROOT / top).rglob("*") if p.suffix in {".py", ".md", ".yml", ".yaml", ".sh"}]
    return [p for p in found if ".venv" not in p.parts]


def names(doc: Path) -> set[str]:
    """What a pointer may name in `doc`: its headings, and the bold lead-ins of its paragraphs."""
    text = doc.read_text(encoding="utf-8")
    found = {line.lstrip("#").strip() for line in text.splitlines() if line.startswith("#")}
    return found | set(re.findall(r"\*\*([^*]+)\*\*", text))


def test_every_section_pointer_names_a_section_of_its_page() -> None:
    pointers = 0
    broken = []
    for path in files():
        for page, title in POINTER.findall(path.read_text(encoding="utf-8")):
            title = " ".join(title.replace("#", " ").split())  # a title wrapped in a comment
            doc = ROOT / "docs" / page
            if not doc.exists() or title not in names(doc):
                broken.append(f"{path.relative_to(ROOT)}: docs/{page}, {title!r}")
            pointers += 1
    assert pointers >= 15  # the pointers were found at all
    assert broken == []


def test_nothing_points_outside_the_repository() -> None:
    offending = [
        str(path.relative_to(ROOT))
        for path in files()
        if path.name != Path(__file__).name and OUTSIDE.search(path.read_text(encoding="utf-8"))
    ]
    assert offending == []
