"""Fake but plausible people, companies, contact details and Salesforce record ids.

Everything is assembled from small word lists with a seeded generator; no real person's data
is used. Email and web domains are sub-domains of ``example.com`` (reserved for documentation
by RFC 2606) and phone numbers use the fictional 555-01xx block or an obviously fake pattern.
All functions are vectorised over numpy arrays.
"""

from __future__ import annotations

import unicodedata

import numpy as np

FIRST_NAMES: dict[str, tuple[str, ...]] = {
    "en": ("Avery", "Blake", "Casey", "Dana", "Elliot", "Frankie", "Gale", "Harper", "Indy",
           "Jordan", "Kendall", "Logan", "Morgan", "Noel", "Oakley", "Parker", "Quinn", "Reese",
           "Sawyer", "Taylor", "Umber", "Val", "Wren", "Yael", "Zion", "Rowan", "Sage", "Emery"),
    "de": ("Anke", "Bernd", "Carla", "Dirk", "Elke", "Frieder", "Gesa", "Hauke", "Ilka", "Jost",
           "Katrin", "Lutz", "Meike", "Nils", "Okke", "Petra", "Rike", "Sönke", "Tjark", "Ute",
           "Volker", "Wiebke", "Gunda", "Henner"),
    "fr": ("Aurèle", "Bastien", "Capucine", "Damien", "Elodie", "Fanny", "Gaspard", "Hortense",
           "Inès", "Jules", "Léonie", "Maëlle", "Noé", "Odile", "Pacôme", "Romane", "Solène",
           "Tanguy", "Ulysse", "Victoire", "Yvon", "Zélie"),
    "es": ("Abril", "Bruno", "Candela", "Dario", "Estela", "Fermín", "Gala", "Hugo", "Iker",
           "Jimena", "Lía", "Mateo", "Nerea", "Olmo", "Paz", "Rocío", "Saúl", "Triana", "Unai",
           "Vera", "Xoán", "Yago"),
}

LAST_NAMES: dict[str, tuple[str, ...]] = {
    "en": ("Ashdown", "Birchwood", "Calloway", "Dunmore", "Everleigh", "Fairbank", "Greaves",
           "Holloway", "Ingram", "Jessop", "Kettering", "Lockhart", "Marsden", "Northcott",
           "Oakhurst", "Pemberton", "Quarrie", "Radcliffe", "Stanway", "Thackeray", "Underhill",
           "Vickers", "Whitlock", "Yardley"),
    "de": ("Achterberg", "Brinkmann", "Dellbrügge", "Eichhorst", "Feldkamp", "Grotehans",
           "Hollenbeck", "Imkamp", "Jansing", "Kötterheinrich", "Lammerding", "Möllenkamp",
           "Niehues", "Osthoff", "Pöppelbaum", "Rottmann", "Schwertfeger", "Tegeler",
           "Uhlenbrock", "Vornholt", "Wessendorf", "Zurhorst"),
    "fr": ("Aubertin", "Bellecourt", "Chambrun", "Delaroche", "Escoffier", "Fauvel", "Giraudet",
           "Hautecœur", "Issartel", "Jaouen", "Lavergne", "Morvan", "Nédélec", "Ollivier",
           "Picard", "Quéré", "Rouxel", "Séveno", "Tréguier", "Vauclin"),
    "es": ("Aldama", "Barrenechea", "Cifuentes", "Duarte", "Echeverría", "Figueroa", "Goicoechea",
           "Herrera", "Iturbe", "Jáuregui", "Lasarte", "Mendizábal", "Nieva", "Olabarría",
           "Pardo", "Quiroga", "Rentería", "Salcedo", "Tolosa", "Urquiza", "Valdivia", "Zubiri"),
}

COMPANY_STEMS: dict[str, tuple[str, ...]] = {
    "en": ("Bright", "Cedar", "Copper", "Delta", "Ember", "Falcon", "Granite", "Harbor", "Iron",
           "Juniper", "Keystone", "Lumen", "Maple", "Northwind", "Orbit", "Pinnacle", "Quarry",
           "Redwood", "Summit", "Tidewater", "Union", "Vantage", "Willow", "Zenith"),
    "de": ("Alpen", "Berg", "Donau", "Eichen", "Fluss", "Hafen", "Isar", "Kessel", "Linden",
           "Main", "Nordlicht", "Ost", "Rhein", "Sonnen", "Tannen", "Weser", "Zeder", "Elb"),
    "fr": ("Azur", "Bocage", "Causse", "Dune", "Estuaire", "Falaise", "Garrigue", "Lande",
           "Meuse", "Mistral", "Ondine", "Presqu'île", "Rive", "Sillon", "Tramontane", "Vallon"),
    "es": ("Albufera", "Brisa", "Cierzo", "Duero", "Ebro", "Faro", "Guadalupe", "Levante",
           "Meseta", "Nava", "Olivo", "Pinar", "Ribera", "Sierra", "Tajo", "Vega"),
}

COMPANY_NOUNS: dict[str, tuple[str, ...]] = {
    "en": ("Analytics", "Logistics", "Foods", "Health", "Systems", "Works", "Partners",
           "Labs", "Energy", "Media", "Supply", "Builders", "Finance", "Robotics"),
    "de": ("Logistik", "Maschinenbau", "Handel", "Software", "Bau", "Energie", "Medien",
           "Technik", "Versand", "Pharma", "Werke", "Beratung"),
    "fr": ("Logistique", "Conseil", "Industries", "Distribution", "Santé", "Énergie",
           "Médias", "Ingénierie", "Services", "Transports", "Alimentaire"),
    "es": ("Logística", "Consultores", "Industrias", "Distribución", "Salud", "Energía",
           "Medios", "Ingeniería", "Servicios", "Transportes", "Alimentación"),
}

COMPANY_SUFFIXES: dict[str, tuple[str, ...]] = {
    "en": ("Inc.", "LLC", "Ltd", "Group", "Co.", "Corp."),
    "de": ("GmbH", "AG", "KG", "GmbH & Co. KG", "SE"),
    "fr": ("SA", "SAS", "SARL", "Groupe"),
    "es": ("S.L.", "S.A.", "Grupo", "S.L.U."),
}

CITIES: dict[str, tuple[str, ...]] = {
    "en": ("Springfield", "Riverton", "Fairview", "Lakeside", "Greenville", "Milford", "Clayton",
           "Ashford", "Bramley", "Hollowbrook"),
    "de": ("Bergheim", "Talhausen", "Neustadt", "Altdorf", "Waldkirch", "Seefeld", "Lindau",
           "Rosenheim", "Mühlbach"),
    "fr": ("Villeneuve", "Beaumont", "Montclair", "Saint-Aubin", "Valmont", "Fontenay",
           "Rochefort", "Bellerive"),
    "es": ("Villanueva", "Torrealta", "Valdemoro", "Fuentesauco", "Monteverde", "Riofrío",
           "Castroviejo", "Peñalba"),
}

COUNTRIES: dict[str, dict[str, tuple[str, ...]]] = {
    # region code -> countries as the org writes them (in its language)
    "en": {"na": ("USA", "Canada"), "emea": ("United Kingdom", "Germany", "France", "Spain"),
           "apac": ("Australia", "Singapore", "Japan"), "latam": ("Mexico", "Brazil", "Chile")},
    "de": {"na": ("USA", "Kanada"), "emea": ("Deutschland", "Österreich", "Schweiz",
                                              "Niederlande"),
           "apac": ("Australien", "Singapur", "Japan"), "latam": ("Mexiko", "Brasilien", "Chile")},
    "fr": {"na": ("États-Unis", "Canada"), "emea": ("France", "Belgique", "Suisse",
                                                     "Luxembourg"),
           "apac": ("Australie", "Singapour", "Japon"), "latam": ("Mexique", "Brésil", "Chili")},
    "es": {"na": ("Estados Unidos", "Canadá"), "emea": ("España", "Portugal", "Francia",
                                                         "Alemania"),
           "apac": ("Australia", "Singapur", "Japón"), "latam": ("México", "Argentina", "Chile")},
}

TITLES: dict[str, dict[str, tuple[str, ...]]] = {
    # seniority code -> job titles
    "en": {"c_level": ("CEO", "CFO", "COO", "CIO"), "vp": ("VP Sales", "VP Operations"),
           "director": ("Director of IT", "Head of Finance"),
           "manager": ("Office Manager", "Project Manager"),
           "individual_contributor": ("Analyst", "Specialist", "Coordinator")},
    "de": {"c_level": ("Geschäftsführer", "Vorstand Finanzen"), "vp": ("Bereichsleiter Vertrieb",),
           "director": ("Leiter IT", "Leiterin Einkauf"),
           "manager": ("Teamleiter", "Projektleiterin"),
           "individual_contributor": ("Sachbearbeiter", "Referentin", "Assistenz")},
    "fr": {"c_level": ("PDG", "Directeur financier"), "vp": ("Directeur commercial",),
           "director": ("DSI", "Responsable achats"), "manager": ("Chef de projet",
                                                                   "Responsable d'équipe"),
           "individual_contributor": ("Chargé d'affaires", "Assistante", "Analyste")},
    "es": {"c_level": ("Director general", "Director financiero"), "vp": ("Director comercial",),
           "director": ("Jefe de sistemas", "Responsable de compras"),
           "manager": ("Jefe de proyecto", "Coordinadora"),
           "individual_contributor": ("Técnico", "Administrativa", "Analista")},
}

DEPARTMENTS: dict[str, tuple[str, ...]] = {
    "en": ("Finance", "IT", "Operations", "Sales", "Procurement", "Marketing"),
    "de": ("Finanzen", "IT", "Betrieb", "Vertrieb", "Einkauf", "Marketing"),
    "fr": ("Finance", "DSI", "Opérations", "Ventes", "Achats", "Marketing"),
    "es": ("Finanzas", "Sistemas", "Operaciones", "Ventas", "Compras", "Marketing"),
}

#: Fictional competitor products (names invented for the generator).
COMPETITORS: tuple[str, ...] = (
    "Brightdesk", "Calyx CRM", "Nimbus Suite", "Orchard One", "Pipewell", "Quillstack",
    "Tallyhub", "Veridian Cloud",
)

PRODUCTS: tuple[str, ...] = ("Core Platform", "Analytics", "Mobile App", "API", "Billing Module",
                             "Integrations")

CASE_SUBJECTS: dict[str, tuple[str, ...]] = {
    "en": ("Cannot log in", "Report shows wrong totals", "Invoice question", "Sync failed",
           "Request for new feature", "Slow dashboard", "Export error", "User cannot be added"),
    "de": ("Login nicht möglich", "Bericht zeigt falsche Summen", "Frage zur Rechnung",
           "Synchronisierung fehlgeschlagen", "Wunsch: neue Funktion", "Dashboard langsam"),
    "fr": ("Connexion impossible", "Totaux erronés dans le rapport", "Question facture",
           "Échec de synchronisation", "Demande d'évolution", "Tableau de bord lent"),
    "es": ("No puedo iniciar sesión", "Informe con totales erróneos", "Consulta de factura",
           "Fallo de sincronización", "Petición de mejora", "Panel lento"),
}

UTM_SOURCES: tuple[str, ...] = ("google", "linkedin", "newsletter", "bing", "partner_site",
                                "capterra", "direct")

_BASE62 = np.frombuffer(
    b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", dtype=np.uint8
)
_SUFFIX_ALPHABET = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345", dtype=np.uint8)

#: Salesforce key prefixes (first three characters of a record id) per object.
KEY_PREFIXES: dict[str, str] = {
    "Account": "001", "Contact": "003", "Lead": "00Q", "Opportunity": "006", "Case": "500",
    "User": "005",
}


def salesforce_ids(key_prefix: str, count: int, *, pod: int, start: int) -> np.ndarray:
    """``count`` 18-character Salesforce ids: key prefix, a two-character pod, ``0``, a
    9-character base-62 counter from ``start``, and the case-safe 3-character suffix.

    The suffix follows Salesforce's documented rule: for each 5-character chunk of the
    15-character id, a bit per character says whether it is an upper-case letter, and the
    5-bit number indexes ``A-Z0-5``.
    """
    if len(key_prefix) != 3:
        raise ValueError(f"key prefix must have 3 characters, got {key_prefix!r}")
    chars = np.empty((count, 15), dtype=np.uint8)
    chars[:, :3] = np.frombuffer(key_prefix.encode("ascii"), dtype=np.uint8)
    chars[:, 3] = _BASE62[(pod // 62) % 62]
    chars[:, 4] = _BASE62[pod % 62]
    chars[:, 5] = ord("0")
    counters = np.arange(start, start + count, dtype=np.int64)
    for position in range(14, 5, -1):
        chars[:, position] = _BASE62[counters % 62]
        counters //= 62
    upper = (chars >= ord("A")) & (chars <= ord("Z"))
    weights = 1 << np.arange(5)
    suffix = np.empty((count, 3), dtype=np.uint8)
    for chunk in range(3):
        bits = upper[:, chunk * 5 : chunk * 5 + 5] @ weights
        suffix[:, chunk] = _SUFFIX_ALPHABET[bits]
    full = np.concatenate([chars, suffix], axis=1)
    return full.view("S18").ravel().astype(str).astype(object)


def ascii_slug(text: str) -> str:
    """Lower-case ASCII letters and digits only (``Sönke`` → ``sonke``)."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return "".join(ch for ch in folded.lower() if ch.isalnum())


def _pick(rng: np.random.Generator, words: tuple[str, ...], count: int) -> np.ndarray:
    return np.asarray(words, dtype=object)[rng.integers(0, len(words), size=count)]


def people(rng: np.random.Generator, language: str, count: int) -> tuple[np.ndarray, np.ndarray]:
    """First and last names in ``language``."""
    return _pick(rng, FIRST_NAMES[language], count), _pick(rng, LAST_NAMES[language], count)


def company_names(rng: np.random.Generator, language: str, count: int) -> np.ndarray:
    """Company names such as ``Northwind Logistics Ltd`` or ``Isar Technik GmbH``; a running
    number disambiguates repeats, as CRM data often does (``Isar Technik GmbH (2)``)."""
    stems = _pick(rng, COMPANY_STEMS[language], count)
    nouns = _pick(rng, COMPANY_NOUNS[language], count)
    suffixes = _pick(rng, COMPANY_SUFFIXES[language], count)
    names = stems + " " + nouns + " " + suffixes
    # number repeats so account names stay unique within an org
    order = np.argsort(names, kind="stable")
    sorted_names = names[order]
    first = np.r_[True, sorted_names[1:] != sorted_names[:-1]]
    group_start = np.maximum.accumulate(np.where(first, np.arange(count), 0))
    rank = np.arange(count) - group_start
    result = sorted_names.copy()
    repeated = rank > 0
    result[repeated] = result[repeated] + " (" + (rank[repeated] + 1).astype(str).astype(
        object) + ")"
    out = np.empty(count, dtype=object)
    out[order] = result
    return out


def domains(names: np.ndarray) -> np.ndarray:
    """A per-company sub-domain of ``example.com``."""
    slugs = np.asarray([ascii_slug(name)[:24] for name in names], dtype=object)
    return slugs + ".example.com"


def emails(first: np.ndarray, last: np.ndarray, domain: np.ndarray) -> np.ndarray:
    """``first.last@<domain>`` in ASCII."""
    local = np.asarray(
        [f"{ascii_slug(f)}.{ascii_slug(s)}" for f, s in zip(first, last, strict=True)],
        dtype=object,
    )
    return local + "@" + domain


def zero_padded(numbers: np.ndarray, width: int) -> np.ndarray:
    """Whole numbers as text padded with zeros to ``width`` (an object array). Unlike
    ``np.char.zfill``, which raises on it, an empty array gives an empty array (an org with
    no cases or no visits)."""
    if len(numbers) == 0:
        return np.empty(0, dtype=object)
    return np.char.zfill(np.asarray(numbers).astype(str), width).astype(object)


def phones(rng: np.random.Generator, language: str, count: int) -> np.ndarray:
    """Obviously fictional phone numbers in the org's national format."""
    digits = rng.integers(0, 100, size=count)
    area = rng.integers(200, 990, size=count)
    tail = zero_padded(digits, 2)
    area_text = area.astype(str).astype(object)
    if language == "de":
        return "+49 " + area_text + " 555 01" + tail
    if language == "fr":
        return "+33 1 55 50 01 " + tail
    if language == "es":
        return "+34 9" + area_text + " 555 1" + tail
    return "+1 (" + area_text + ") 555-01" + tail
