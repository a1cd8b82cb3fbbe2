"""How the real-dataset orgs *name* their fields and *spell* their picklist values.

Written for these datasets by hand, in the spirit of :mod:`fedcrm.synth.vocabulary`: the
phrasings imitate what an admin types into the "Field Label" box (the source column's own
words first, then terse and alternative phrasings, then German, French and Spanish ones) and
are **not** taken from the ontology's synonyms, so that matching these orgs measures the
matcher rather than a lookup table. Yes/no spellings reuse the generator's
:data:`fedcrm.synth.vocabulary.YES_NO`.

Value spellings: for each value set, each *source* value has, per language, one or more
spellings; an org uses one variant index for the whole set so its picklist reads
consistently. English variant 0 is always the source spelling, so an English org with
variant 0 keeps the data exactly as published (quirks included). ``VALUE_CODES`` says which
canonical ontology code each source value means (written to ``units.json`` as ground truth;
the pipeline never reads it).
"""

from __future__ import annotations

from dataclasses import dataclass

from fedcrm.synth.vocabulary import YES_NO

__all__ = ["UNIT_WORDS", "VALUE_CODES", "VALUE_SPELLINGS", "WORDS", "YES_NO", "Phrasings"]


@dataclass(frozen=True)
class Phrasings:
    """The ways an org may label one source column, per language."""

    en: tuple[str, ...]
    abbr: tuple[str, ...] = ()
    de: tuple[str, ...] = ()
    fr: tuple[str, ...] = ()
    es: tuple[str, ...] = ()
    gloss: str = ""

    def phrases(self, language: str) -> tuple[str, ...]:
        """Phrasings in ``language``, falling back to English where none are written."""
        own: tuple[str, ...] = getattr(self, language, ())
        return own or self.en


def _p(en: str, abbr: str = "", de: str = "", fr: str = "", es: str = "",
       gloss: str = "") -> Phrasings:
    def split(text: str) -> tuple[str, ...]:
        return tuple(part.strip() for part in text.split("|") if part.strip())

    return Phrasings(split(en), split(abbr), split(de), split(fr), split(es), gloss)


#: Words appended to labels (and API names) of fields stored in a non-obvious unit, so that a
#: reader — and the unit-aware converter — can tell: key → language → (label suffix, API word).
UNIT_WORDS: dict[str, dict[str, tuple[str, str]]] = {
    "years": {"en": ("(years)", "Years"), "de": ("(Jahre)", "Jahre"),
              "fr": ("(ans)", "Ans"), "es": ("(años)", "Anos")},
    "usd_millions": {"en": ("(USD millions)", "USD_Mio"), "de": ("(Mio USD)", "Mio_USD"),
                     "fr": ("(millions USD)", "Millions_USD"),
                     "es": ("(millones USD)", "Millones_USD")},
}

#: Label phrasings per source-column key (see the dataset modules for which column uses which).
WORDS: dict[str, Phrasings] = {
    # --- telco-churn and bank-churn: the customer (an Account) --------------------------------
    "gender": _p("Gender|Sex|Customer Gender", "Gndr", "Geschlecht|Geschlecht Kunde",
                 "Sexe|Genre du client", "Sexo|Género",
                 "Customer's gender as recorded at sign-up."),
    "senior_citizen": _p("Senior Citizen|Senior (65+)|Is Senior", "SnrCtzn|Senior",
                         "Seniorenkunde|Rentner|Senior", "Client senior|Senior",
                         "Cliente sénior|Jubilado|Mayor de 65",
                         "Ticked for customers aged 65 or over."),
    "has_partner": _p("Partner|Has Partner|Lives With Partner", "HasPtnr",
                      "Partner vorhanden|Mit Partner", "En couple|Vit en couple",
                      "Con pareja|Tiene pareja",
                      "The customer lives with a spouse or partner."),
    "has_dependents": _p("Dependents|Has Dependents|Dependants At Home", "HasDeps",
                         "Unterhaltsberechtigte|Kinder im Haushalt",
                         "Personnes à charge|Enfants à charge",
                         "Dependientes|Personas a cargo",
                         "The customer has children or other dependants."),
    "tenure_months": _p("Tenure|Months Subscribed|Customer Months|Tenure In Months",
                        "TenureMo|CustMos", "Kundendauer Monate|Vertragsmonate|Monate Kunde",
                        "Ancienneté en mois|Mois d'abonnement", "Antigüedad en meses|Meses de alta",
                        "Number of months the customer has stayed with us."),
    "phone_service": _p("Phone Service|Has Phone Line|Voice Service", "PhnSvc",
                        "Telefonanschluss|Festnetz", "Service téléphonique|Ligne fixe",
                        "Servicio telefónico|Línea fija",
                        "Customer subscribes to a phone line."),
    "multiple_lines": _p("Multiple Lines|Extra Lines|More Than One Line", "MultLines",
                         "Mehrere Leitungen|Zusatzleitung", "Lignes multiples|Plusieurs lignes",
                         "Varias líneas|Líneas múltiples",
                         "More than one phone line on the contract."),
    "internet_service": _p("Internet Service|Internet Type|Broadband", "InetSvc",
                           "Internetanschluss|Internet-Tarif", "Accès internet|Type d'accès",
                           "Servicio de internet|Tipo de conexión",
                           "Which internet access the customer has, if any."),
    "online_security": _p("Online Security|Security Add-on|Internet Security", "OnlSec",
                          "Online-Sicherheit|Sicherheitspaket", "Sécurité en ligne|Option sécurité",
                          "Seguridad en línea|Paquete seguridad",
                          "Online security add-on booked."),
    "online_backup": _p("Online Backup|Cloud Backup|Backup Add-on", "OnlBkp",
                        "Online-Backup|Datensicherung", "Sauvegarde en ligne|Option sauvegarde",
                        "Copia de seguridad en línea|Backup en la nube",
                        "Online backup add-on booked."),
    "device_protection": _p("Device Protection|Device Insurance|Equipment Cover", "DevProt",
                            "Geräteschutz|Geräteversicherung",
                            "Protection de l'appareil|Assurance appareil",
                            "Protección de dispositivo|Seguro de equipo",
                            "Device protection plan booked."),
    "tech_support": _p("Tech Support|Premium Support|Technical Support Plan", "TechSupp",
                       "Technischer Support|Support-Paket", "Assistance technique|Support premium",
                       "Soporte técnico|Asistencia técnica",
                       "Premium technical support plan booked."),
    "streaming_tv": _p("Streaming TV|TV Package|TV Streaming", "StrmTV",
                       "TV-Streaming|Fernsehpaket", "Télévision en streaming|Bouquet TV",
                       "TV en streaming|Paquete TV", "TV streaming option booked."),
    "streaming_movies": _p("Streaming Movies|Movie Package|Film Streaming", "StrmMov",
                           "Film-Streaming|Filmpaket", "Films en streaming|Pack cinéma",
                           "Películas en streaming|Paquete cine",
                           "Movie streaming option booked."),
    "contract_term": _p("Contract|Contract Type|Commitment Period", "CtrType",
                        "Vertragsart|Vertragslaufzeit|Bindungsfrist",
                        "Type de contrat|Durée d'engagement", "Tipo de contrato|Permanencia",
                        "Length of the customer's current commitment."),
    "paperless_billing": _p("Paperless Billing|E-Bill|Electronic Invoice", "PprlsBill",
                            "Online-Rechnung|Papierlose Rechnung",
                            "Facture électronique|Facturation sans papier",
                            "Factura electrónica|Facturación sin papel",
                            "Customer receives bills electronically only."),
    "payment_method": _p("Payment Method|Pay Method|How Customer Pays", "PmtMeth",
                         "Zahlungsart|Zahlweise", "Moyen de paiement|Mode de règlement",
                         "Método de pago|Forma de pago", "How the customer settles bills."),
    "monthly_charges": _p("Monthly Charges|Monthly Bill|Monthly Fee", "MoChrg",
                          "Monatliche Gebühr|Monatsbetrag", "Mensualité|Montant mensuel",
                          "Cuota mensual|Cargo mensual", "Amount billed to the customer monthly."),
    "total_charges": _p("Total Charges|Total Billed|Charges To Date", "TotChrg",
                        "Gesamtbetrag bisher|Summe Gebühren", "Total facturé|Montant cumulé",
                        "Total facturado|Cargos acumulados",
                        "Everything billed to the customer so far."),
    "churned": _p("Churn|Churned|Left Company|Cancelled Service", "Churn|Chrnd",
                  "Gekündigt|Abgewandert", "Résilié|Parti", "Baja|Dado de baja",
                  "The customer has left."),
    "credit_score": _p("Credit Score|Credit Rating Score|Bureau Score", "CrdScr",
                       "Bonitätsscore|Kreditwürdigkeit", "Score de crédit|Note de solvabilité",
                       "Puntuación crediticia|Scoring de crédito",
                       "Credit bureau score of the customer."),
    "age": _p("Age|Age Of Customer|Client Age", "Age", "Alter|Alter Kunde",
              "Âge|Âge du client", "Edad|Edad del cliente", "The customer's age."),
    "tenure_years": _p("Tenure|Client Tenure|Relationship Length", "Tenure|CustTen",
                       "Kundendauer|Kundenbeziehung", "Ancienneté|Ancienneté client",
                       "Antigüedad|Antigüedad cliente",
                       "How long the customer has banked with us."),
    "balance": _p("Balance|Account Balance|Current Balance", "AcctBal", "Kontostand|Saldo",
                  "Solde|Solde du compte", "Saldo|Saldo en cuenta",
                  "Money held in the customer's accounts."),
    "number_of_products": _p("Products Held|Num Products|Products In Use", "NumProd",
                             "Anzahl Produkte|Produkte im Bestand",
                             "Nombre de produits|Produits détenus",
                             "Número de productos|Productos contratados",
                             "Bank products the customer holds."),
    "has_credit_card": _p("Has Credit Card|Credit Card Holder|Card Issued", "HasCC",
                          "Kreditkarte vorhanden|Kreditkarteninhaber",
                          "Détient une carte|Carte de crédit",
                          "Tiene tarjeta|Titular de tarjeta",
                          "The customer holds one of our credit cards."),
    "active_member": _p("Active Member|Is Active Member|Engaged Customer", "ActvMbr",
                        "Aktives Mitglied|Aktiver Kunde", "Membre actif|Client actif",
                        "Miembro activo|Cliente activo",
                        "The customer uses the bank's services actively."),
    "estimated_salary": _p("Estimated Salary|Est. Income|Salary Estimate", "EstSal",
                           "Geschätztes Gehalt|Einkommen geschätzt", "Salaire estimé|Revenu estimé",
                           "Salario estimado|Ingresos estimados",
                           "The customer's estimated yearly salary."),
    # --- lead-scoring: the prospect (a Lead) --------------------------------------------------
    "prospect_id": _p("Prospect ID|Prospect Key|Visitor GUID", "ProspId",
                      gloss="Identifier of the prospect in the web analytics system."),
    "lead_number": _p("Lead Number|Lead No|Lead Ref", "LeadNo",
                      gloss="Sequential number the lead got when it was captured."),
    "lead_origin": _p("Lead Origin|Origin Channel|Capture Form", "LdOrig",
                      gloss="How the lead entered the system (form, API, import)."),
    "total_visits": _p("Total Visits|Site Visits Count|Visits To Site", "TotVisits",
                       gloss="How many times the prospect came to the site."),
    "time_on_site": _p("Total Time Spent On Website|Time On Site|Website Time Spent",
                       "TimeOnSite", gloss="Total time the prospect spent on the site."),
    "page_views_per_visit": _p("Page Views Per Visit|Pages Per Session|Avg Page Views",
                               "PgViewsPerVst", gloss="Average pages viewed per visit."),
    "specialization": _p("Specialization|Area Of Interest|Preferred Specialisation", "Spec",
                         gloss="Field of study the prospect is interested in."),
    "heard_about_us": _p("How Did You Hear About Us|Heard About Us Via|Discovery Channel",
                         "HeardVia", gloss="The prospect's own answer to the survey question."),
    "occupation": _p("Current Occupation|Occupation|Employment Status", "Occup",
                     gloss="What the prospect does for a living."),
    "course_motivation": _p("What Matters Most In A Course|Course Motivation|Main Reason "
                            "For Course", "CourseMotiv",
                            gloss="Why the prospect is looking for a course."),
    "ad_search": _p("Saw Ad In Search|Search Ad Seen", "SrchAd"),
    "ad_magazine": _p("Saw Ad In Magazine|Magazine Ad Seen", "MagAd"),
    "ad_newspaper_article": _p("Saw Newspaper Article|Read About Us In News", "NewsArt"),
    "ad_forums": _p("Saw Us On Forums|Forum Mention Seen", "ForumSeen"),
    "ad_newspaper": _p("Saw Ad In Newspaper|Newspaper Ad Seen", "NewsAd"),
    "ad_digital": _p("Saw Digital Ad|Display Ad Seen", "DigAd"),
    "recommended": _p("Came Through Recommendation|Recommended By Someone", "Recmd"),
    "wants_course_updates": _p("Wants Course Updates|Course Update Opt In", "CrsUpd"),
    "supply_chain_updates": _p("Supply Chain Content Opt In|Supply Chain Updates", "SCUpd"),
    "dm_updates": _p("DM Content Opt In|Digital Marketing Updates", "DMUpd"),
    "lead_profile": _p("Lead Profile|Prospect Profile|Profile Type", "LdProf"),
    "asym_activity_index": _p("Asymmetrique Activity Index|Activity Index (Asym)", "AsymActIdx"),
    "asym_profile_index": _p("Asymmetrique Profile Index|Profile Index (Asym)", "AsymProfIdx"),
    "asym_activity_score": _p("Asymmetrique Activity Score|Activity Score (Asym)",
                              "AsymActScr"),
    "asym_profile_score": _p("Asymmetrique Profile Score|Profile Score (Asym)", "AsymProfScr"),
    "agrees_cheque": _p("Agrees To Pay By Cheque|Cheque Payment OK", "ChqOK"),
    "free_interview_guide": _p("Wants Free Interview Guide|Free Copy Mastering Interview|"
                               "Interview eBook Requested", "FreeGuide"),
    # --- sales-pipeline: deals (Opportunity) and their accounts -------------------------------
    "product": _p("Product|Product Name|Offering", "Prod",
                  gloss="The product the deal is about."),
    "product_series": _p("Product Series|Product Line|Series", "ProdSeries",
                         gloss="Family the product belongs to."),
    "sales_manager": _p("Sales Manager|Team Manager|Rep Manager", "SlsMgr",
                        gloss="Manager of the rep who owns the deal."),
    "regional_office": _p("Regional Office|Sales Office|Region Office", "RegOff",
                          gloss="Office the owning rep works from."),
    "company_revenue": _p("Annual Revenue|Company Revenue|Revenue", "Rev",
                          gloss="The customer company's yearly revenue."),
    "parent_company": _p("Subsidiary Of|Parent Company|Owned By", "ParentCo",
                         gloss="Group the company belongs to, if any."),
}

#: value set → source value → language → spellings (variant 0 in English = the source value)
VALUE_SPELLINGS: dict[str, dict[str, dict[str, tuple[str, ...]]]] = {
    "telco_contract": {
        "Month-to-month": {"en": ("Month-to-month", "Monthly"),
                           "de": ("Monatlich kündbar", "Monatsvertrag"),
                           "fr": ("Sans engagement", "Au mois"),
                           "es": ("Mes a mes", "Mensual")},
        "One year": {"en": ("One year", "1 Year"), "de": ("1 Jahr", "Jahresvertrag"),
                     "fr": ("1 an", "Engagement 12 mois"), "es": ("1 año", "Anual")},
        "Two year": {"en": ("Two year", "2 Years"), "de": ("2 Jahre", "Zweijahresvertrag"),
                     "fr": ("2 ans", "Engagement 24 mois"), "es": ("2 años", "Dos años")},
    },
    "telco_payment": {
        "Electronic check": {"en": ("Electronic check", "E-Check"),
                             "de": ("Elektronischer Scheck",), "fr": ("Chèque électronique",),
                             "es": ("Cheque electrónico",)},
        "Mailed check": {"en": ("Mailed check", "Check by Mail"), "de": ("Scheck per Post",),
                         "fr": ("Chèque postal",), "es": ("Cheque por correo",)},
        "Bank transfer (automatic)": {"en": ("Bank transfer (automatic)", "Auto Bank Transfer"),
                                      "de": ("Banküberweisung (automatisch)",),
                                      "fr": ("Virement automatique",),
                                      "es": ("Transferencia bancaria (automática)",)},
        "Credit card (automatic)": {"en": ("Credit card (automatic)", "Auto Credit Card"),
                                    "de": ("Kreditkarte (automatisch)",),
                                    "fr": ("Carte bancaire (automatique)",),
                                    "es": ("Tarjeta de crédito (automática)",)},
    },
    "telco_internet": {
        "DSL": {"en": ("DSL",), "de": ("DSL",), "fr": ("ADSL",), "es": ("ADSL",)},
        "Fiber optic": {"en": ("Fiber optic", "Fiber"), "de": ("Glasfaser",),
                        "fr": ("Fibre optique",), "es": ("Fibra óptica",)},
        "No": {"en": ("No", "None"), "de": ("Kein Internet",), "fr": ("Pas d'accès",),
               "es": ("Sin internet",)},
    },
    "gender": {
        "Male": {"en": ("Male", "M"), "de": ("Männlich", "m"), "fr": ("Homme", "H"),
                 "es": ("Hombre", "H")},
        "Female": {"en": ("Female", "F"), "de": ("Weiblich", "w"), "fr": ("Femme", "F"),
                   "es": ("Mujer", "M")},
    },
    "bank_country": {
        "France": {"en": ("France",), "de": ("Frankreich",), "fr": ("France",),
                   "es": ("Francia",)},
        "Germany": {"en": ("Germany",), "de": ("Deutschland",), "fr": ("Allemagne",),
                    "es": ("Alemania",)},
        "Spain": {"en": ("Spain",), "de": ("Spanien",), "fr": ("Espagne",), "es": ("España",)},
    },
    "deal_stage": {
        "Won": {"en": ("Won", "Closed Won", "Closed - Won")},
        "Lost": {"en": ("Lost", "Closed Lost", "Closed - Lost")},
        "Engaging": {"en": ("Engaging", "Engaging", "In Progress")},
        "Prospecting": {"en": ("Prospecting", "Prospecting", "Prospect")},
    },
}

#: value set → source value → canonical ontology code (ground truth for concept picklists)
VALUE_CODES: dict[str, dict[str, str]] = {
    "telco_contract": {"Month-to-month": "month_to_month", "One year": "annual",
                       "Two year": "multi_year"},
    # an electronic check is still a cheque; the automatic ones are standing orders
    "telco_payment": {"Electronic check": "check", "Mailed check": "check",
                      "Bank transfer (automatic)": "bank_transfer",
                      "Credit card (automatic)": "credit_card"},
    # "Engaging" is an open, worked deal with no counterpart among the canonical stages
    "deal_stage": {"Won": "closed_won", "Lost": "closed_lost", "Engaging": "other",
                   "Prospecting": "prospecting"},
    # the lead source picklist of the lead-scoring data; judgement calls are commented
    "lead_source": {
        "Google": "search", "google": "search", "bing": "search", "Organic Search": "search",
        "Direct Traffic": "web", "Welingak Website": "web",
        "Olark Chat": "other", "Live Chat": "other",  # chat widgets: no canonical code
        "Reference": "external_referral", "Referral Sites": "external_referral",
        "Facebook": "social_media", "Social Media": "social_media",
        "youtubechannel": "social_media", "Pay per Click Ads": "advertisement",
        "Press_Release": "public_relations", "Click2call": "phone_inquiry",
        "NC_EDM": "email_campaign",  # EDM: electronic direct mail
        "blog": "other", "welearnblog_Home": "other", "WeLearn": "other", "testone": "other",
    },
    # sectors of the sales-pipeline accounts, misspelling included
    "sector": {"technolgy": "technology", "software": "technology", "medical": "healthcare",
               "retail": "retail", "marketing": "media", "finance": "finance",
               "entertainment": "entertainment", "telecommunications": "telecommunications",
               "services": "other", "employment": "other"},
}
