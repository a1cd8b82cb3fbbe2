"""The mapping review workflow: a data steward checks the matcher's proposals before the
federation trains on them.

```python
from fedcrm.review import ReviewStore, DecisionRequest, Action

store = ReviewStore(".fedcrm/review.db")            # or any SQLAlchemy URL
store.import_proposal("mapping.json", schemas=[schema], imported_by="ana")
field = store.next_field()                          # low confidence × high impact first
store.decide(DecisionRequest(org=field.org, object=field.object, field=field.field,
                             action=Action.ACCEPT, seen_version=field.version,
                             reviewer="ana"))
store.export_approved("approved/", exported_by="ana")   # fedcrm match JSON + provenance
```

The CLI (``fedcrm review``) and the local web page (``fedcrm review serve``) are thin layers
over :class:`ReviewStore`.
"""

from fedcrm.review.errors import ReviewBusy, StaleVersionError, UnknownFieldError
from fedcrm.review.exporting import provenance_path
from fedcrm.review.fingerprint import field_fingerprint
from fedcrm.review.impact import default_impact_weights
from fedcrm.review.migrations import SCHEMA_VERSION, migrate
from fedcrm.review.models import (
    Action,
    AuditEntry,
    CandidateView,
    DecisionRecord,
    DecisionRequest,
    ExportResult,
    FieldView,
    ImportReport,
    LabelConflict,
    LabelExportReport,
    Progress,
    Provenance,
    Status,
    Tier,
)
from fedcrm.review.store import DEFAULT_DB, ReviewStore, create_review_engine, database_url

__all__ = [
    "DEFAULT_DB",
    "SCHEMA_VERSION",
    "Action",
    "AuditEntry",
    "CandidateView",
    "DecisionRecord",
    "DecisionRequest",
    "ExportResult",
    "FieldView",
    "ImportReport",
    "LabelConflict",
    "LabelExportReport",
    "Progress",
    "Provenance",
    "ReviewBusy",
    "ReviewStore",
    "StaleVersionError",
    "Status",
    "Tier",
    "UnknownFieldError",
    "create_review_engine",
    "database_url",
    "default_impact_weights",
    "field_fingerprint",
    "migrate",
    "provenance_path",
]
