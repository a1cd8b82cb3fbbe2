"""One org's records, in its own field names, → canonical tables keyed by concept id.

The approved mapping (``fedcrm match`` JSON format) says which field is which concept or
shared custom block. Each object's table becomes a frame whose columns are

* ``Id`` — the record key (always kept, never a feature);
* concept ids (``account.nps_score``) — values converted to the canonical representation
  (see :mod:`fedcrm.features.convert`); two fields of one concept are coalesced, the more
  confident mapping first;
* ``custom:<block>`` — fields of a shared custom block, as numbers / booleans / text;
* ``local:<field>`` — the org's other numeric, boolean and picklist fields (its
  participant-specific block, used only by local models).

Everything here runs inside the org; nothing leaves it.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from fedcrm._csv import rows_with_lines
from fedcrm.errors import FeatureError
from fedcrm.features.convert import (
    USD_PER_UNIT,
    Conversion,
    check_currency_options,
    convert_field,
    parse_booleans,
    parse_dates,
    parse_numbers,
)
from fedcrm.matching.proposal import FieldMapping, OrgMapping
from fedcrm.ontology.models import Ontology
from fedcrm.schema.models import DataKind, FieldMeta, OrgSchema

ID_COLUMN = "Id"
#: the records' currency column in multi-currency orgs (one ISO code per record)
CURRENCY_COLUMN = "CurrencyIsoCode"
LOCAL_KINDS = frozenset({DataKind.NUMBER, DataKind.CURRENCY, DataKind.PERCENT,
                         DataKind.BOOLEAN, DataKind.PICKLIST})


@dataclass
class CanonicalOrg:
    """An org's records in canonical form, with a report of every conversion."""

    org_id: str
    tables: dict[str, pd.DataFrame]
    conversions: list[Conversion] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def table(self, sobject: str) -> pd.DataFrame:
        """The canonical table of one object (empty frame if the org has no such records)."""
        for name, frame in self.tables.items():
            if name.lower() == sobject.lower():
                return frame
        return pd.DataFrame({ID_COLUMN: pd.Series(dtype="string")})


def read_records(folder: str | Path) -> dict[str, pd.DataFrame]:
    """Read ``<Object>.csv`` files (as exported from Salesforce) as text columns.

    Comma-separated, or ``;`` / tab where a spreadsheet saved the file. Raises
    :class:`FeatureError` naming the file for an empty or unreadable file, a column given
    twice (or twice in different case), and rows with fewer cells than the header (a cut-off
    export, which would otherwise read as records with empty fields).
    """
    root = Path(folder)
    if not root.is_dir():
        raise FeatureError(f"{root}: no records folder (expected one <Object>.csv per object)")
    tables: dict[str, pd.DataFrame] = {}
    for path in sorted(root.glob("*.csv")):
        separator = _delimiter(path)
        try:
            tables[path.stem] = pd.read_csv(path, dtype="string", keep_default_na=False,
                                            na_values=[""], sep=separator)
        except pd.errors.EmptyDataError:
            raise FeatureError(f"{path}: empty file, not even a header row; export the object "
                               "again (at least its header line) or remove the file") from None
        except (pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise FeatureError(f"{path}: cannot read CSV ({str(exc).strip()})") from exc
        except OSError as exc:
            raise FeatureError(f"{path}: cannot read CSV ({exc.strerror or exc})") from exc
        _columns_by_name(tables[path.stem], str(path))
        _refuse_repeated_columns(tables[path.stem], path)
        _refuse_short_rows(path, separator, len(tables[path.stem].columns))
    if not tables:
        raise FeatureError(f"{root}: no .csv record files found")
    return tables


def _delimiter(path: Path) -> str:
    """The header line's separator: "," (Salesforce exports), or ";" / tab where a
    spreadsheet saved the file with them (Excel in many European locales writes ";")."""
    try:
        with path.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
            header = handle.readline()
    except OSError:
        return ","  # read_csv names the file and the error
    counts = {sep: header.count(sep) for sep in (",", ";", "\t")}
    best = max(counts, key=lambda sep: counts[sep])
    return best if counts[best] > counts[","] else ","


def _refuse_short_rows(path: Path, separator: str, width: int) -> None:
    """pandas fills the missing cells of a row with fewer fields than the header with nulls,
    so a cut-off export (a truncated last line) would be read as records with empty fields.
    Salesforce and spreadsheets write every cell of every row, so a short row is damage.
    Rows of blanks only (pandas skips them, as it skips empty lines) are not counted."""
    short: list[tuple[int, int]] = []
    try:
        with path.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
            rows = rows_with_lines(handle, separator)
            next(rows, None)  # the header
            for start, row in rows:
                if len(row) < width and any(cell.strip(" \t\x1a") for cell in row):
                    short.append((start, len(row)))
    except csv.Error as exc:
        raise FeatureError(f"{path}: cannot read CSV ({exc})") from exc
    if short:
        lines = ", ".join(f"line {line} ({cells} of {width} cells)" for line, cells in short[:3])
        more = f" and {len(short) - 3} more" if len(short) > 3 else ""
        verb = "has" if len(short) == 1 else "have"
        raise FeatureError(f"{path}: {lines}{more} {verb} fewer cells than the header; the file "
                           "looks cut off or damaged; export the object again")


def _refuse_repeated_columns(frame: pd.DataFrame, path: Path) -> None:
    """pandas renames a repeated header ``Area__c`` to ``Area__c.1``; API names hold no dot,
    so such a pair is a column given twice, and which one counts would be a guess."""
    names = {str(column) for column in frame.columns}
    repeated = sorted({str(column).rsplit(".", 1)[0] for column in frame.columns
                       if re.fullmatch(r".+\.\d+", str(column))
                       and str(column).rsplit(".", 1)[0] in names})
    if repeated:
        raise FeatureError(f"{path}: column(s) {repeated} appear more than once; keep one of "
                           "each")


def _columns_by_name(frame: pd.DataFrame, where: str) -> dict[str, str]:
    """Lower-cased column name → the column as written.

    Salesforce API names ignore case (metadata lookups do too), so ``NPE01__REV_KEUR__C``
    is ``npe01__Rev_kEUR__c``; two columns that differ only by case are ambiguous.
    """
    by_name: dict[str, str] = {}
    for column in frame.columns:
        key = str(column).lower()
        if key in by_name:
            raise FeatureError(
                f"{where}: columns {by_name[key]!r} and {column!r} differ only by case, and "
                "Salesforce API names ignore case; keep one of them")
        by_name[key] = str(column)
    return by_name


def _currency_codes(frame: pd.DataFrame, column: str | None) -> set[str]:
    if column is None:
        return set()
    return set(frame[column].dropna().astype("string").str.strip().str.upper()) - {""}


def _org_currency(
    org_id: str, tables: Mapping[str, pd.DataFrame],
    decisions: Mapping[tuple[str, str], FieldMapping],
) -> tuple[dict[str, str], dict[str, set[str]]]:
    """Per object: the currency code column (``CurrencyIsoCode`` or a field mapped to a
    ``*.currency_iso_code`` concept) and the codes its records carry."""
    columns: dict[str, str] = {}
    codes: dict[str, set[str]] = {}
    for object_name, frame in tables.items():
        by_name = _columns_by_name(frame, f"org {org_id}: {object_name}.csv")
        column = by_name.get(CURRENCY_COLUMN.lower()) or next(
            (by_name[f] for (o, f), d in decisions.items()
             if o == object_name.lower() and f in by_name and d.concept is not None
             and d.concept.endswith(".currency_iso_code")), None)
        if column is not None:
            columns[object_name] = column
            codes[object_name] = _currency_codes(frame, column)
    return columns, codes


def _raw_custom(values: pd.Series, meta: FieldMeta) -> pd.Series:
    """A custom-block or local field in a comparable form, by its declared kind."""
    family = meta.kind.family
    if family == "numeric":
        return parse_numbers(values)
    if family == "boolean":
        return parse_booleans(values)
    if family == "temporal":
        return parse_dates(values, date_only=meta.kind is DataKind.DATE)
    return values.astype("string").str.strip()


_CASE_SAFE_SUFFIX = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345", dtype=np.uint8)
_EIGHTEEN = r"[a-zA-Z0-9]{15}[A-Z0-5]{3}"


def record_ids(values: pd.Series) -> pd.Series:
    """Record ids in one form: 18-character Salesforce ids (Data Loader, the API) become their
    15-character form (reports), so a child's lookup written one way still meets its parent's
    Id written the other (a report export next to a Data Loader export joined nothing: every
    roll-up 0, every deal without its account). An 18-character value is shortened only when
    its last three characters are the case-safe checksum of the first fifteen (each a 5-bit
    number, one bit per character of a 5-character chunk that is an upper-case letter,
    indexing A-Z0-5; the Salesforce "What is a Salesforce ID" knowledge article). Other
    values stay as they are (stripped)."""
    text = values.astype("string").str.strip()
    candidates = text.str.fullmatch(_EIGHTEEN).fillna(False).astype(bool)
    if not candidates.any():
        return text
    chosen = text[candidates]
    chars = np.frombuffer("".join(chosen.tolist()).encode("ascii"),
                          dtype=np.uint8).reshape(-1, 18)
    upper = (chars[:, :15] >= ord("A")) & (chars[:, :15] <= ord("Z"))
    bits = upper.reshape(-1, 3, 5).astype(np.int64) @ (1 << np.arange(5))
    valid = (_CASE_SAFE_SUFFIX[bits] == chars[:, 15:]).all(axis=1)
    result = text.copy()
    result[chosen.index[valid]] = chosen[valid].str[:15]
    return result


def canonicalize(
    org_id: str,
    tables: Mapping[str, pd.DataFrame],
    schema: OrgSchema,
    mapping: OrgMapping,
    ontology: Ontology,
    *,
    currency_rates: dict[str, float] | None = None,
    default_currency: str | None = None,
) -> CanonicalOrg:
    """Convert every mapped field of every object with records into canonical columns.

    Column names match API names whatever their case (as Salesforce's do). Raises
    :class:`FeatureError` when the mapping names a field the org's metadata lacks, or a table
    has two columns that differ only by case. A mapped field missing from the records, and
    every column left out of the canonical tables, is reported in ``skipped``.

    Amounts whose name and values state no currency are in ``default_currency``; without it,
    in the one currency the org's records carry in a ``CurrencyIsoCode`` column (or a field
    mapped to ``*.currency_iso_code``), else assumed USD; each conversion's note says which.
    ``currency_rates`` (USD per unit, by three-letter code) override or extend
    :data:`~fedcrm.features.convert.USD_PER_UNIT`. Raises
    :class:`~fedcrm.errors.ConfigError` for a rate that is not a finite number > 0, or a
    ``default_currency`` that has no rate.
    """
    currency_rates, default_currency = check_currency_options(currency_rates, default_currency)
    canonical: dict[str, pd.DataFrame] = {}
    conversions: list[Conversion] = []
    skipped: list[str] = []
    decisions = {(f.object.lower(), f.field.lower()): f for f in mapping.fields}
    for listed in mapping.fields:
        try:
            schema.object(listed.object).field(listed.field)
        except KeyError:
            raise FeatureError(
                f"org {org_id}: the mapping names {listed.object}.{listed.field}, which "
                "its metadata does not have; re-run `fedcrm match` on the current metadata"
            ) from None
    currency_columns, currency_codes = _org_currency(org_id, tables, decisions)
    org_codes = set().union(*currency_codes.values())
    for object_name, frame in tables.items():
        if object_name not in schema:
            skipped.append(f"{object_name}: records but no metadata for this object")
            continue
        sobject = schema[object_name]
        by_name = _columns_by_name(frame, f"org {org_id}: {object_name}.csv")
        id_column = by_name.get(ID_COLUMN.lower())
        if id_column is None:
            raise FeatureError(f"org {org_id}: {object_name} records have no Id column")
        if frame[id_column].isna().any() or frame[id_column].duplicated().any():
            raise FeatureError(f"org {org_id}: {object_name} Id column has empty or duplicate "
                               "values; every record needs its own Id")
        # the object's own currency column decides; else the org's, if it has one code
        codes = currency_codes.get(object_name, org_codes)
        object_currency, currency_source = default_currency, "org default"
        if default_currency is None and len(codes) == 1:
            object_currency = next(iter(codes))
            where = object_name if object_name in currency_columns else "org"
            currency_source = f"{where} records' currency column"
            known = {*USD_PER_UNIT, *(currency_rates or {})}
            if object_currency not in known:
                raise FeatureError(
                    f"org {org_id}: {object_name} records are in {object_currency}, a "
                    f"currency without an exchange rate here ({', '.join(sorted(known))}); "
                    f"pass currency_rates={{'{object_currency}': <USD per unit>}}")
        elif len(codes) > 1:
            # a default does not make a multi-currency column single-currency: say so anyway
            read_as = f"{default_currency} (the org default)" if default_currency else "USD"
            skipped.append(f"{sobject.api_name}: records carry several currencies "
                           f"({', '.join(sorted(codes))}); amounts without a currency in "
                           f"their name are read as {read_as} (per-record conversion is not "
                           "supported)")
        ids = record_ids(frame[id_column])
        if ids.duplicated().any():
            raise FeatureError(f"org {org_id}: {object_name} Id column names one record twice "
                               "once spaces are trimmed and 18-character ids shortened to 15 "
                               "(the same record exported both ways?); every record needs its "
                               "own Id")
        columns: dict[str, pd.Series] = {ID_COLUMN: ids}
        used = {id_column}
        confidence: dict[str, float] = {}
        unused: list[str] = []
        for meta in sobject.fields:
            decision = decisions.get((sobject.api_name.lower(), meta.api_name.lower()))
            column = by_name.get(meta.api_name.lower())
            if column is None:
                if decision is not None and (decision.concept or decision.block):
                    skipped.append(f"{sobject.api_name}.{meta.api_name}: mapped but absent "
                                   "from the records")
                continue
            values = frame[column]
            if decision is not None and decision.concept is not None:
                concept = ontology.concept(decision.concept)
                converted, report = convert_field(values, meta, concept, ontology,
                                                  currency_rates=currency_rates,
                                                  default_currency=object_currency,
                                                  default_currency_source=currency_source)
                conversions.append(report)
                if concept.kind in (DataKind.REFERENCE, DataKind.ID):
                    converted = record_ids(converted)
                name = concept.id
                if name in columns:
                    # two fields of one concept: keep the more confident one's values first
                    first, second = (converted, columns[name]) if (
                        decision.confidence > confidence[name]) else (columns[name], converted)
                    converted = first.where(first.notna(), second)
                confidence[name] = max(confidence.get(name, 0.0), decision.confidence)
                columns[name] = converted
            elif decision is not None and decision.block is not None:
                columns[decision.block] = _raw_custom(values, meta)
            elif meta.is_custom and meta.kind in LOCAL_KINDS:
                columns[f"local:{meta.api_name}"] = _raw_custom(values, meta)
            else:
                unused.append(column)
                continue
            used.add(column)
        if unused:
            skipped.append(f"{sobject.api_name}: columns not used ({', '.join(unused)}): not "
                           "mapped, and not a custom number, checkbox or picklist field")
        unknown = [str(c) for c in frame.columns if c not in used and c not in unused]
        if unknown:
            skipped.append(f"{sobject.api_name}: columns dropped ({', '.join(unknown)}): no "
                           "field of that name in the org's metadata")
        canonical[sobject.api_name] = pd.DataFrame(columns, index=frame.index)
    return CanonicalOrg(org_id=org_id, tables=canonical, conversions=conversions,
                        skipped=skipped)


def days_before(dates: pd.Series, as_of: pd.Series | pd.Timestamp) -> pd.Series:
    """Days from each date to its reference time (positive = in the past; NaN if missing)."""
    delta = (as_of - dates) if isinstance(as_of, pd.Timestamp) else (as_of.values - dates)
    seconds = np.asarray(delta, dtype="timedelta64[s]")
    # NaT cast to float is the most negative int64, not NaN: keep missing dates missing
    days = np.where(np.isnat(seconds), np.nan, seconds.astype(float) / 86400.0)
    return pd.Series(days, index=dates.index)
