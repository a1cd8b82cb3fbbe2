"""``generate_federation``: several synthetic Salesforce orgs with known ground truth.

Each org gets independent random streams (profile, schema, records, rule, encoding) derived
from ``(seed, org index, stream)``, so one seed always gives the same federation, byte for
byte, and changing one org's size does not change another org's schema.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from fedcrm.errors import ConfigError
from fedcrm.matching.corpus import AnnotatedOrg, FieldLabel, OrgSource
from fedcrm.schema.models import DataKind, OrgSchema
from fedcrm.synth import naming, rules
from fedcrm.synth.catalog import GROUP_FIELDS, HARD_NEGATIVE_SLOTS
from fedcrm.synth.encode import build_tables
from fedcrm.synth.folder import write_federation_folder, write_org_folder
from fedcrm.synth.latent import OrgDraw, simulate
from fedcrm.synth.models import (
    FederationManifest,
    FieldEncoding,
    GenerationParams,
    MeasuredQuality,
    OrgProfile,
    OrgSummary,
    QualityParameters,
    RuleTerm,
    TaskRule,
)
from fedcrm.synth.planner import (
    CANONICAL_CURRENCY,
    FX_TO_USD,
    OrgPlan,
    OrgStyle,
    PlannedField,
    plan_org,
)
from fedcrm.synth.quality import measure_quality
from fedcrm.synth.values import VALUE_SPELLINGS
from fedcrm.synth.vocabulary import LANGUAGES

DEFAULT_REFERENCE_DATE = dt.date(2025, 6, 30)
ANNOTATOR = "fedcrm.synth"
LICENCE = "CC0-1.0"
MAX_ORGS = 200
MAX_ACCOUNTS = 5_000_000
#: Defaults of the arguments ``fedcrm synth`` cannot set (see :func:`_reproduce_command`).
DEFAULT_COMPLETENESS = (0.55, 0.98)
DEFAULT_RECENCY = (0.35, 0.95)
DEFAULT_LABEL_RELIABILITY = (0.4, 0.95)
DEFAULT_CUSTOM_OBJECT_RATE = 0.5
DEFAULT_MIN_ACCOUNTS = 20

#: A progress callback: (stage, done, total) with stage "generate" or "write".
Progress = Callable[[str, int, int], None]

_ORG_SLUGS: dict[str, tuple[str, ...]] = {
    "en": ("acme", "brightwave", "northpeak", "bluefin", "harborline", "summitco", "tallgrass"),
    "de": ("alpenwerk", "nordstern", "rheinblick", "elbtal", "isarwerk", "moselhof"),
    "fr": ("azurtech", "bocage", "mistral", "lumiere", "rivegauche", "vercors"),
    "es": ("brisa", "olivar", "sierra", "levante", "albufera", "montana"),
}

_REGION_ALPHA: dict[str, dict[str, float]] = {
    "en": {"na": 3.0, "emea": 1.0, "apac": 0.6, "latam": 0.4},
    "de": {"na": 0.6, "emea": 4.0, "apac": 0.4, "latam": 0.2},
    "fr": {"na": 0.6, "emea": 4.0, "apac": 0.4, "latam": 0.3},
    "es": {"na": 0.5, "emea": 2.5, "apac": 0.3, "latam": 2.0},
}

_STREAM_PROFILE, _STREAM_SCHEMA, _STREAM_RECORDS, _STREAM_RULE, _STREAM_ENCODE = range(5)


def _rng(seed: int, org_index: int, stream: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, org_index, stream]))


@dataclass
class SyntheticOrg:
    """One generated org: metadata, records, ground truth and profile."""

    org_id: str
    schema: OrgSchema
    tables: dict[str, pd.DataFrame]
    labels: list[FieldLabel]
    #: (object, field) → how the field stores its meaning when that is not canonical
    units: dict[tuple[str, str], FieldEncoding]
    profile: OrgProfile
    #: canonical latent values and true outcomes per object (never written unless asked)
    latent: dict[str, pd.DataFrame]
    measured: MeasuredQuality
    intercepts: dict[str, float]
    coefficients: dict[str, dict[str, float]]
    hard_negatives: list[tuple[str, str, str]] = field(default_factory=list)
    plan: OrgPlan | None = field(default=None, repr=False)

    @property
    def records(self) -> dict[str, int]:
        """Number of records per object."""
        return {name: len(table) for name, table in self.tables.items()}

    def label(self, sobject: str, field_name: str) -> FieldLabel:
        """The ground-truth label of one field (case-insensitive)."""
        key = (sobject.lower(), field_name.lower())
        for label in self.labels:
            if label.key == key:
                return label
        raise KeyError(f"org {self.org_id} has no field {sobject}.{field_name}")

    def summary(self) -> OrgSummary:
        """This org's entry in the federation manifest."""
        return OrgSummary(
            profile=self.profile, records=self.records, n_fields=self.schema.n_fields,
            n_custom_fields=sum(1 for _, f in self.schema.iter_fields() if f.is_custom),
            measured=self.measured, intercepts=self.intercepts, coefficients=self.coefficients,
            hard_negatives=tuple(self.hard_negatives),
        )


@dataclass
class Federation:
    """Several synthetic orgs generated together from one seed."""

    orgs: list[SyntheticOrg]
    seed: int
    params: GenerationParams

    @property
    def manifest(self) -> FederationManifest:
        """``federation.json``: parameters, rules with their true coefficients, per-org
        profiles and measured quality."""
        return FederationManifest(
            seed=self.seed, params=self.params, reference_date=self.params.reference_date,
            canonical_currency=CANONICAL_CURRENCY, fx_to_usd=dict(FX_TO_USD),
            rules=_rule_models(), orgs=tuple(org.summary() for org in self.orgs),
            reproduce=_reproduce_command(self.params),
        )

    def org(self, org_id: str) -> SyntheticOrg:
        """The org called ``org_id``."""
        for org in self.orgs:
            if org.org_id == org_id:
                return org
        raise KeyError(f"no org {org_id!r}; have {[o.org_id for o in self.orgs]}")

    def annotated_orgs(self) -> list[AnnotatedOrg]:
        """Every org as an :class:`~fedcrm.matching.corpus.AnnotatedOrg` (schema and one
        synthetic label per field) for the matcher's training corpus."""
        result: list[AnnotatedOrg] = []
        for position, org in enumerate(self.orgs, start=1):
            source = OrgSource(
                org=org.org_id, kind="synthetic", licence=LICENCE,
                description=(f"fedcrm.synth federation, seed {self.seed}, org {position} of "
                             f"{len(self.orgs)} ({org.profile.language}, "
                             f"{org.profile.naming_style} names)"),
            )
            annotated = AnnotatedOrg(schema=org.schema, source=source)
            for label in org.labels:
                annotated.labels[label.key] = label
            result.append(annotated)
        return result

    def write(self, out_dir: str | Path, *, include_latent: bool = False,
              progress: Progress | None = None) -> Path:
        """Write the federation under ``out_dir`` (see ``docs/synth.md`` for the layout).

        ``out_dir`` must be empty, missing, or an earlier output of this generator or of
        ``fedcrm datasets export`` (its org folders are replaced; anything else in it is
        kept). With ``include_latent`` the canonical latent values and true outcomes are
        written too, under ``<org>/latent/``.

        Every org is written into a staging folder first, so a failure leaves an earlier
        output as it was, and a write stopped while swapping the new orgs in is finished by
        the next one (:func:`fedcrm.synth.folder.write_federation_folder`).
        """
        orgs = {org.org_id: org for org in self.orgs}

        def write_org(org_id: str, folder: Path) -> None:
            org = orgs[org_id]
            kinds = {sobject: {f.api_name.lower(): f.kind for f in org.schema[sobject].fields}
                     for sobject in org.tables}
            write_org_folder(
                folder, org.schema,
                {sobject: _csv_ready(table, kinds[sobject])
                 for sobject, table in org.tables.items()},
                org.labels, org.units,
                custom_object=org.plan.custom_object if org.plan is not None else None,
                latent=org.latent if include_latent else None)

        manifest = self.manifest
        if include_latent:
            # the manifest's command writes the same files: the latent ones too
            command = manifest.reproduce
            manifest = manifest.model_copy(update={"reproduce": command.replace(
                " --out DIR", " --include-latent --out DIR").replace(
                ".write('DIR')", ".write('DIR', include_latent=True)")})
        return write_federation_folder(Path(out_dir), list(orgs), write_org,
                                       manifest.model_dump_json(indent=2) + "\n",
                                       progress=progress)


def _rule_models() -> dict[str, TaskRule]:
    descriptions = {
        "churn": "Account churn in the outcome window; inputs as of the snapshot.",
        "lead_conversion": "Lead converted to a customer.",
        "win_probability": "Closed opportunity won.",
    }
    return {
        task: TaskRule(
            task=task, object=rules.TASK_OBJECT[task], coefficient_sigma=rules.COEFFICIENT_SIGMA,
            description=descriptions[task],
            terms=tuple(RuleTerm(name=t.name, coefficient=t.coefficient, formula=t.formula,
                                 concepts=t.concepts, group=t.group)
                        for t in rules.RULES[task]),
        )
        for task in rules.TASKS
    }


def _reproduce_command(params: GenerationParams) -> str:
    """The command that writes the same files again: ``fedcrm synth …`` when the CLI can set
    every parameter that differs from its default, otherwise the Python call (and says so)."""
    api_only = {
        name: value for name, value, default in (
            ("completeness", params.completeness, DEFAULT_COMPLETENESS),
            ("recency", params.recency, DEFAULT_RECENCY),
            ("label_reliability", params.label_reliability, DEFAULT_LABEL_RELIABILITY),
            ("custom_object_rate", params.custom_object_rate, DEFAULT_CUSTOM_OBJECT_RATE),
            ("min_accounts", params.min_accounts, DEFAULT_MIN_ACCOUNTS),
        ) if value != default
    }
    if not api_only:
        return (f"fedcrm synth --orgs {params.n_orgs} --seed {params.seed} "
                f"--scale {params.scale} --accounts-min {params.accounts[0]} "
                f"--accounts-max {params.accounts[1]} --languages {','.join(params.languages)} "
                f"--reference-date {params.reference_date.isoformat()} --out DIR")
    arguments = ", ".join(f"{name}={value!r}" for name, value in api_only.items())
    return (f"Python API only (fedcrm synth cannot set {', '.join(api_only)}): "
            f"fedcrm.synth.generate_federation({params.n_orgs}, seed={params.seed}, "
            f"accounts={params.accounts!r}, scale={params.scale!r}, "
            f"languages={params.languages!r}, "
            f"reference_date='{params.reference_date.isoformat()}', {arguments}).write('DIR')")


# --- validation -----------------------------------------------------------------------------

def _check_int(name: str, value: object, minimum: int, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ConfigError(f"{name} must be a whole number, got {value!r}")
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name} must be at most {maximum}, got {value}")
    return int(value)


def _check_range(name: str, value: object, *, low: float, high: float,
                 integer: bool = False) -> tuple[float, float]:
    if isinstance(value, str) or not isinstance(value, Sequence) or len(value) != 2:
        raise ConfigError(f"{name} must be a (min, max) pair, got {value!r}")
    lo, hi = value
    for bound in (lo, hi):
        if isinstance(bound, bool) or not isinstance(bound, int | float | np.integer |
                                                     np.floating):
            raise ConfigError(f"{name} bounds must be numbers, got {value!r}")
        if integer and float(bound) != int(bound):
            raise ConfigError(f"{name} bounds must be whole numbers, got {value!r}")
        if not math.isfinite(float(bound)) or not low <= float(bound) <= high:
            raise ConfigError(f"{name} bounds must lie in [{low:g}, {high:g}], got {value!r}")
    if lo > hi:
        raise ConfigError(f"{name}: min {lo} is greater than max {hi}")
    return float(lo), float(hi)


def validate_params(
    n_orgs: object, seed: object, accounts: object, scale: object, languages: object,
    reference_date: object, completeness: object, recency: object, label_reliability: object,
    custom_object_rate: object, min_accounts: object,
) -> GenerationParams:
    """Check every argument of :func:`generate_federation`; raise :class:`ConfigError` with
    what was expected and what was given."""
    n = _check_int("n_orgs", n_orgs, 1, MAX_ORGS)
    seed_value = _check_int("seed", seed, 0)
    if isinstance(accounts, Sequence) and not isinstance(accounts, str) and len(accounts) == 2 \
            and any(isinstance(a, int | float | np.integer) and not isinstance(a, bool)
                    and a <= 0 for a in accounts):
        raise ConfigError(f"accounts must be positive numbers of accounts, got {tuple(accounts)}")
    lo, hi = _check_range("accounts", accounts, low=1, high=MAX_ACCOUNTS, integer=True)
    if isinstance(scale, bool) or not isinstance(scale, int | float | np.integer | np.floating):
        raise ConfigError(f"scale must be a number, got {scale!r}")
    if not math.isfinite(float(scale)) or float(scale) <= 0:
        raise ConfigError(f"scale must be a positive number, got {scale!r}")
    largest = round(hi * float(scale))  # the largest org draw_org_size can give
    if largest > MAX_ACCOUNTS:
        raise ConfigError(
            f"scale {scale!r} makes orgs of up to {largest:,} accounts ({int(hi):,} × scale); "
            f"at most {MAX_ACCOUNTS:,} accounts per org: lower scale or accounts")
    if isinstance(languages, str):
        languages = tuple(part.strip() for part in languages.split(",") if part.strip())
    if isinstance(languages, set | frozenset):
        # a set has no order, and the order decides which org speaks which language
        raise ConfigError(f"languages must be a list or tuple (its order decides which org "
                          f"speaks which), not a {type(languages).__name__}: "
                          f"{sorted(languages)!r}")
    if not isinstance(languages, Sequence) or not languages:
        raise ConfigError(f"languages must name at least one of {LANGUAGES}, got {languages!r}")
    unknown = [lang for lang in languages if lang not in LANGUAGES]
    if unknown:
        raise ConfigError(f"unknown language(s) {unknown}; choose from {list(LANGUAGES)}")
    if len(set(languages)) != len(languages):
        raise ConfigError(f"languages lists a language twice: {list(languages)}")
    if isinstance(reference_date, str):
        try:
            reference_date = dt.date.fromisoformat(reference_date)
        except ValueError:
            raise ConfigError(
                f"reference_date must be an ISO date (YYYY-MM-DD), got {reference_date!r}"
            ) from None
    if isinstance(reference_date, dt.datetime) or not isinstance(reference_date, dt.date):
        raise ConfigError(f"reference_date must be a date, got {reference_date!r}")
    if not dt.date(2005, 1, 1) <= reference_date <= dt.date(2100, 12, 31):
        raise ConfigError(f"reference_date must lie between 2005 and 2100, got {reference_date}")
    quality = {
        name: _check_range(name, value, low=0.0, high=1.0)
        for name, value in (("completeness", completeness), ("recency", recency),
                            ("label_reliability", label_reliability))
    }
    if isinstance(custom_object_rate, bool) or not isinstance(
            custom_object_rate, int | float) or not 0 <= custom_object_rate <= 1:
        raise ConfigError(f"custom_object_rate must be a share in [0, 1], got "
                          f"{custom_object_rate!r}")
    minimum = _check_int("min_accounts", min_accounts, 1, MAX_ACCOUNTS)
    return GenerationParams(
        n_orgs=n, seed=seed_value, accounts=(int(lo), int(hi)), scale=float(scale),
        languages=tuple(languages), reference_date=reference_date,
        completeness=quality["completeness"], recency=quality["recency"],
        label_reliability=quality["label_reliability"],
        custom_object_rate=float(custom_object_rate), min_accounts=minimum,
    )


# --- generation -----------------------------------------------------------------------------

def generate_federation(
    n_orgs: int = 5,
    seed: int = 0,
    *,
    accounts: tuple[int, int] = (2000, 50_000),
    scale: float = 1.0,
    languages: Sequence[str] = LANGUAGES,
    reference_date: dt.date | str = DEFAULT_REFERENCE_DATE,
    completeness: tuple[float, float] = DEFAULT_COMPLETENESS,
    recency: tuple[float, float] = DEFAULT_RECENCY,
    label_reliability: tuple[float, float] = DEFAULT_LABEL_RELIABILITY,
    custom_object_rate: float = DEFAULT_CUSTOM_OBJECT_RATE,
    min_accounts: int = DEFAULT_MIN_ACCOUNTS,
    progress: Progress | None = None,
) -> Federation:
    """Generate ``n_orgs`` heterogeneous synthetic Salesforce orgs.

    Org sizes are drawn log-uniformly from ``accounts`` and multiplied by ``scale`` (at least
    ``min_accounts``); contacts, opportunities, cases and leads follow per-account ratios (see
    ``docs/synth.md``). Each org draws its data quality uniformly from the ``completeness``,
    ``recency`` and ``label_reliability`` ranges. ``reference_date`` is "today" for every
    date in the records, so the output is deterministic. Raises :class:`fedcrm.ConfigError`
    for invalid arguments.
    """
    params = validate_params(n_orgs, seed, accounts, scale, languages, reference_date,
                             completeness, recency, label_reliability, custom_object_rate,
                             min_accounts)
    if progress is not None and not callable(progress):
        raise ConfigError(f"progress must be a function (stage, done, total), got "
                          f"{type(progress).__name__}")
    federation_rng = _rng(params.seed, 1_000_000, 0)
    n = params.n_orgs
    language_order = federation_rng.permutation(len(params.languages))
    style_order = federation_rng.permutation(len(naming.STYLES))
    group_members = _assign_groups(federation_rng, n)
    hard_negatives = _assign_hard_negatives(federation_rng, n)
    reference_day = (params.reference_date - dt.date(1970, 1, 1)).days
    used_slugs: set[str] = set()
    orgs: list[SyntheticOrg] = []
    for index in range(n):
        language = params.languages[int(language_order[index % len(params.languages)])]
        naming_style = naming.STYLES[int(style_order[index % len(naming.STYLES)])]
        groups = frozenset(g for g, members in group_members.items() if index in members)
        orgs.append(_generate_org(params, index, language, naming_style, groups,
                                  hard_negatives.get(index, {}), reference_day, used_slugs))
        if progress is not None:
            progress("generate", index + 1, n)
    _group_shared_meanings(orgs)
    return Federation(orgs=orgs, seed=params.seed, params=params)


def _assign_groups(rng: np.random.Generator, n: int) -> dict[str, set[int]]:
    """Each participant-specific block goes to some but (where possible) not all orgs."""
    members: dict[str, set[int]] = {}
    for spec in GROUP_FIELDS:
        if n >= 3:
            size = int(rng.integers(2, n))
        elif n == 2:
            size = int(rng.integers(1, 3))
        else:
            size = int(rng.integers(0, 2))
        members[spec.key] = {int(i) for i in rng.permutation(n)[:size]}
    return members


def _assign_hard_negatives(rng: np.random.Generator, n: int) -> dict[int, dict[int, int]]:
    """Slot → meaning per org; slot 0 is forced into the first two orgs with different
    meanings so every federation of two or more orgs has a hard-negative pair."""
    chosen: dict[int, dict[int, int]] = {i: {} for i in range(n)}
    for slot_index, slot in enumerate(HARD_NEGATIVE_SLOTS):
        for org_index in range(n):
            if rng.random() < 0.45:
                chosen[org_index][slot_index] = int(rng.integers(0, len(slot.meanings)))
    if n >= 2:
        first = int(rng.integers(0, 2))
        chosen[0][0] = first
        chosen[1][0] = 1 - first
    return chosen


def _slug(rng: np.random.Generator, language: str, used: set[str]) -> str:
    options = [s for s in _ORG_SLUGS[language] if s not in used]
    if options:
        slug = options[int(rng.integers(0, len(options)))]
    else:
        base = _ORG_SLUGS[language][int(rng.integers(0, len(_ORG_SLUGS[language])))]
        number = 2
        while f"{base}{number}" in used:
            number += 1
        slug = f"{base}{number}"
    used.add(slug)
    return slug


def _dirichlet_mix(rng: np.random.Generator, codes: Sequence[str],
                   alpha: Sequence[float]) -> dict[str, float]:
    weights = rng.dirichlet(np.asarray(alpha, dtype=float))
    return {code: round(float(w), 4) for code, w in zip(codes, weights, strict=True)}


def draw_org_size(rng: np.random.Generator, accounts: tuple[int, int], scale: float,
                  minimum: int) -> int:
    """Accounts of one org: log-uniform in ``accounts`` (so volumes are imbalanced), times
    ``scale``, at least ``minimum``."""
    low, high = accounts
    size = math.exp(rng.uniform(math.log(low), math.log(high))) if high > low else float(low)
    return max(minimum, round(size * scale))


def _generate_org(params: GenerationParams, index: int, language: str, naming_style: str,
                  groups: frozenset[str], hard_negatives: dict[int, int], reference_day: int,
                  used_slugs: set[str]) -> SyntheticOrg:
    rng = _rng(params.seed, index, _STREAM_PROFILE)
    slug = _slug(rng, language, used_slugs)
    org_id = f"org{index + 1:02d}_{slug}"
    currency = ("USD" if rng.random() < 0.7 else "GBP") if language == "en" else "EUR"
    n_accounts = draw_org_size(rng, params.accounts, params.scale, params.min_accounts)
    quality = QualityParameters(
        completeness=round(float(rng.uniform(*params.completeness)), 4),
        recency=round(float(rng.uniform(*params.recency)), 4),
        label_reliability=round(float(rng.uniform(*params.label_reliability)), 4),
    )
    industries = [code for code in VALUE_SPELLINGS["industry"] if code != "other"]
    industry_mix = _dirichlet_mix(rng, [*industries, "other"], [0.6] * len(industries) + [0.3])
    region_alpha = _REGION_ALPHA[language]
    region_mix = _dirichlet_mix(rng, list(region_alpha), list(region_alpha.values()))
    sources = [c for c in VALUE_SPELLINGS["lead_source"]]
    lead_source_mix = _dirichlet_mix(rng, sources, [1.0] * len(sources))
    base_rates = {
        "churn": round(float(rng.uniform(0.08, 0.28)), 4),
        "lead_conversion": round(float(rng.uniform(0.08, 0.25)), 4),
        "win_probability": round(float(rng.uniform(0.2, 0.45)), 4),
    }
    ratios = {
        "contacts_per_account": round(1 + float(rng.uniform(1.8, 3.2)), 3),
        "opportunities_per_account": round(float(rng.uniform(1.6, 3.0)), 3),
        "cases_per_account_quarter": round(float(rng.uniform(0.35, 1.0)), 3),
        "leads_per_account": round(float(rng.uniform(1.0, 2.0)), 3),
    }
    has_custom_object = bool(rng.random() < params.custom_object_rate)
    base_style = naming_style if naming_style in naming.BASE_STYLES else \
        naming.BASE_STYLES[int(rng.integers(0, len(naming.BASE_STYLES)))]
    namespace = naming.NAMESPACES[int(rng.integers(0, len(naming.NAMESPACES)))] \
        if naming_style == "namespaced" else None
    name_language = "en" if language == "en" or rng.random() < 0.5 else language
    style = OrgStyle(
        language=language, name_language=name_language, naming_style=naming_style,
        base_style=base_style, namespace=namespace, currency=currency,
        description_rate=round(float(rng.uniform(0.1, 0.7)), 3),
        typo_rate=round(float(rng.uniform(0.0, 0.08)), 3),
        english_label_rate=0.0 if language == "en" else round(float(rng.uniform(0.0, 0.2)), 3),
    )
    draw = OrgDraw(
        index=index, language=language, currency=currency, n_accounts=n_accounts,
        completeness=quality.completeness, recency=quality.recency,
        label_reliability=quality.label_reliability, industry_mix=industry_mix,
        region_mix=region_mix, lead_source_mix=lead_source_mix, base_rates=base_rates,
        groups=groups, has_visits=has_custom_object,
        size_log_mean=float(np.log(120) + rng.normal(0, 0.4)),
        tenure_scale_months=float(rng.uniform(14, 34)),
        utilisation_mean=float(rng.uniform(0.5, 0.75)),
        satisfaction_shift=float(rng.normal(0, 0.3)),
        cases_per_quarter=ratios["cases_per_account_quarter"],
        response_days=float(rng.uniform(0.3, 3.0)),
        first_response_hours=float(rng.uniform(1.5, 8.0)),
        contacts_per_account=ratios["contacts_per_account"] - 1,
        opportunities_per_account=ratios["opportunities_per_account"],
        leads_per_account=ratios["leads_per_account"],
        competitor_rate=float(rng.uniform(0.12, 0.35)),
        sponsor_shift=float(rng.normal(0, 0.4)),
    )
    richness = float(rng.uniform(0.8, 1.15))
    company = slug.capitalize()
    plan = plan_org(style, _rng(params.seed, index, _STREAM_SCHEMA), groups=groups,
                    hard_negatives=hard_negatives, has_custom_object=has_custom_object,
                    richness=richness)
    latent = simulate(draw, _rng(params.seed, index, _STREAM_RECORDS),
                      _rng(params.seed, index, _STREAM_RULE), reference_day)
    tables = build_tables(latent, plan, quality.completeness,
                          _rng(params.seed, index, _STREAM_ENCODE))
    schema = plan.schema(org_id)
    labels = _labels(org_id, plan, schema)
    units = plan.encodings()
    measured = measure_quality(tables, schema, labels, units, params.reference_date)
    profile = OrgProfile(
        org_id=org_id, company=company, language=language, currency=currency,
        naming_style=naming_style, base_style=base_style, namespace=namespace,
        name_language=name_language, n_accounts=n_accounts, quality=quality,
        description_rate=style.description_rate, typo_rate=style.typo_rate,
        english_label_rate=style.english_label_rate, base_rates=base_rates,
        industry_mix=industry_mix, region_mix=region_mix, groups=tuple(sorted(groups)),
        has_custom_object=has_custom_object, record_ratios=ratios,
    )
    frames = {name: frame.drop(columns=[c for c in frame.columns if c.startswith("x:")
                                        and c != "x:account_index"])
              for name, frame in latent.frames.items() if name != "Visit"}
    return SyntheticOrg(
        org_id=org_id, schema=schema, tables=tables, labels=labels, units=units,
        profile=profile, latent=frames, measured=measured, intercepts=dict(latent.intercepts),
        coefficients=latent.coefficients, hard_negatives=list(plan.hard_negatives), plan=plan,
    )


def _meaning_key(entry: PlannedField | None, sobject: str) -> str | None:
    """What a field without an ontology concept or block means, as a cross-org key."""
    if entry is None:
        return "site_visit.name"  # the custom object's auto-number name field
    if entry.concept is not None or entry.group is not None:
        return None
    if entry.role == "custom_object" and entry.latent:
        return "site_visit." + entry.latent.split(":", 1)[1].removeprefix("visit_")
    if entry.role == "distractor" and entry.distractor:
        return f"{sobject.lower()}.{entry.distractor}"
    if entry.role == "hard_negative" and entry.latent:
        return f"{sobject.lower()}.{entry.latent.split(':', 1)[1]}"
    return None


def _group_shared_meanings(orgs: list[SyntheticOrg]) -> None:
    """Fields without a concept that mean the same thing in two or more orgs (the same
    distractor, the alternative meaning of a hard negative, the site-visit object's fields) are
    equivalent: give them a common ``group`` so the ground truth says so."""
    keys: list[dict[tuple[str, str], str]] = []
    for org in orgs:
        assert org.plan is not None  # set for every generated org
        planned = {(p.sobject.lower(), p.api_name.lower()): p for p in org.plan.all_fields()}
        org_keys = {}
        for label in org.labels:
            if label.concept is None and label.group is None:
                entry = planned.get((label.object.lower(), label.field.lower()))
                key = _meaning_key(entry, label.object)
                if key is not None:
                    org_keys[(label.object, label.field)] = key
        keys.append(org_keys)
    counts: dict[str, int] = {}
    for org_keys in keys:
        for key in set(org_keys.values()):
            counts[key] = counts.get(key, 0) + 1
    for org, org_keys in zip(orgs, keys, strict=True):
        org.labels = [
            label.model_copy(update={"group": org_keys[(label.object, label.field)]})
            if counts.get(org_keys.get((label.object, label.field), ""), 0) >= 2 else label
            for label in org.labels
        ]


def _labels(org_id: str, plan: OrgPlan, schema: OrgSchema) -> list[FieldLabel]:
    planned = {(p.sobject.lower(), p.api_name.lower()): p for p in plan.all_fields()}
    labels: list[FieldLabel] = []
    for sobject, meta in schema.iter_fields():
        entry = planned.get((sobject.api_name.lower(), meta.api_name.lower()))
        if entry is None:
            # the custom object's name field
            labels.append(FieldLabel(org=org_id, object=sobject.api_name, field=meta.api_name,
                                     annotator=ANNOTATOR, method="synthetic",
                                     note="custom object, no ontology concept"))
            continue
        labels.append(FieldLabel(
            org=org_id, object=sobject.api_name, field=meta.api_name, concept=entry.concept,
            group=entry.group, annotator=ANNOTATOR, method="synthetic", note=entry.note,
        ))
    return labels


# --- writing --------------------------------------------------------------------------------

def _csv_ready(table: pd.DataFrame, sobject_fields: dict[str, DataKind]) -> pd.DataFrame:
    """Format dates, datetimes and checkboxes the way Salesforce exports them."""
    columns: dict[str, object] = {}
    for name in table.columns:
        column = table[name]
        kind = sobject_fields.get(name.lower())
        if column.dtype.kind == "M":
            stamps = column.to_numpy(dtype="datetime64[s]")
            if kind is DataKind.DATETIME:
                text = np.char.add(np.datetime_as_string(stamps, unit="s"), ".000Z")
            else:
                text = np.datetime_as_string(stamps, unit="D")
            columns[name] = np.where(np.isnat(stamps), "", text)
        elif column.dtype == bool:
            columns[name] = np.where(column.to_numpy(), "true", "false")
        else:
            columns[name] = column
    return pd.DataFrame(columns)

