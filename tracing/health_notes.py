"""What a tracer calls first about a contact: was the visit flagged at the door, and which signs
or contacts did its declaration report. One query for a whole contact list."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlmodel import Session, select

from declarations.models import Declaration
from declarations.questions import EXPOSURES, SYMPTOMS
from visits.models import Visit, VisitStatus

FLAGGED = (VisitStatus.needs_review, VisitStatus.admitted, VisitStatus.turned_away)


@dataclass(frozen=True)
class HealthNote:
    status: str                  # the visit's status at the door
    symptoms: tuple[str, ...]    # keys, in the form's order
    exposures: tuple[str, ...]

    @property
    def flagged(self) -> bool:
        return self.status in FLAGGED

    @property
    def anything(self) -> bool:
        return self.flagged or bool(self.symptoms or self.exposures)

    def words(self, status_words: dict) -> str:
        """'Chờ xem xét: Sốt, Ho; Người có biểu hiện …' in the current language ('' if none)."""
        parts = [str(SYMPTOMS[k]) for k in self.symptoms if k in SYMPTOMS]
        parts += [str(EXPOSURES[k]) for k in self.exposures if k in EXPOSURES]
        head = str(status_words.get(self.status, self.status)) if self.flagged else ""
        if head and parts:
            return f"{head}: {', '.join(parts)}"
        return head or ", ".join(parts)


def health_notes(*, session: Session, visit_ids: Iterable[int]) -> dict[int, HealthNote]:
    """Each visit's door status and its declaration's answers (visits without a declaration,
    such as paper-list rows, have their status only)."""
    ids = sorted(set(visit_ids))
    if not ids:
        return {}
    rows = session.exec(
        select(Visit.id, Visit.status, Declaration.symptoms, Declaration.exposures)
        .outerjoin(Declaration, Declaration.id == Visit.declaration_id)
        .where(Visit.id.in_(ids))
    ).all()
    return {visit_id: HealthNote(status, tuple(symptoms or ()), tuple(exposures or ()))
            for visit_id, status, symptoms, exposures in rows}
