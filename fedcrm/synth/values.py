"""Picklist values as synthetic orgs spell them, per canonical code and language.

Written for the generator (not taken from the ontology's value synonyms, for the same reason
as :mod:`fedcrm.synth.vocabulary`). Each code has, per language, one or more spellings; an org
picks one *variant* index per value set and uses it for every code, so its picklist reads
consistently (``Closed Won``/``Closed Lost`` or ``Won``/``Lost``). For English, variant 0 of a
standard picklist is the Salesforce default value.

Keys are canonical value codes of the ontology's value sets; the generator's ground truth
(``units.json`` ``value_map``) maps every org value back to its code.
"""

from __future__ import annotations


def _spellings(table: dict[str, str]) -> dict[str, dict[str, tuple[str, ...]]]:
    """``code -> "en1|en2 ; de1 ; fr1|fr2 ; es1"`` into ``code -> language -> spellings``."""
    parsed: dict[str, dict[str, tuple[str, ...]]] = {}
    for code, text in table.items():
        parts = [part.strip() for part in text.split(";")]
        if len(parts) != 4:
            raise ValueError(f"value {code!r} needs en ; de ; fr ; es spellings, got {text!r}")
        parsed[code] = {
            language: tuple(v.strip() for v in part.split("|") if v.strip())
            for language, part in zip(("en", "de", "fr", "es"), parts, strict=True)
        }
    return parsed


#: value set id → code → language → spellings
VALUE_SPELLINGS: dict[str, dict[str, dict[str, tuple[str, ...]]]] = {
    "industry": _spellings({
        "banking": "Banking|Banks ; Banken|Bankwesen ; Banque|Banques ; Banca|Bancos",
        "biotechnology": "Biotechnology|Biotech ; Biotechnologie|Biotech ; "
                         "Biotechnologie|Biotech ; Biotecnología|Biotech",
        "chemicals": "Chemicals|Chemical ; Chemie|Chemische Industrie ; Chimie|Chimie ; "
                     "Química|Industria química",
        "construction": "Construction|Building ; Bauwesen|Bau ; BTP|Construction ; "
                        "Construcción|Obras",
        "consulting": "Consulting|Advisory ; Beratung|Consulting ; Conseil|Consulting ; "
                      "Consultoría|Asesoría",
        "education": "Education|Education & Training ; Bildung|Bildungswesen ; "
                     "Éducation|Enseignement ; Educación|Formación",
        "energy": "Energy|Oil & Gas ; Energie|Energiewirtschaft ; Énergie|Énergie ; "
                  "Energía|Energía",
        "finance": "Finance|Financial Services ; Finanzen|Finanzdienstleistungen ; "
                   "Finance|Services financiers ; Finanzas|Servicios financieros",
        "healthcare": "Healthcare|Health Care ; Gesundheitswesen|Gesundheit ; Santé|Médical ; "
                      "Sanidad|Salud",
        "hospitality": "Hospitality|Hotels & Leisure ; Gastgewerbe|Hotellerie ; "
                       "Hôtellerie|Tourisme ; Hostelería|Turismo",
        "insurance": "Insurance|Insurers ; Versicherungen|Versicherung ; Assurance|Assurances ; "
                     "Seguros|Aseguradoras",
        "manufacturing": "Manufacturing|Industrial ; Fertigung|Produzierendes Gewerbe ; "
                         "Industrie|Fabrication ; Fabricación|Industria",
        "media": "Media|Publishing ; Medien|Verlagswesen ; Médias|Édition ; Medios|Editorial",
        "retail": "Retail|Retail & Consumer ; Einzelhandel|Handel ; Distribution|Commerce ; "
                  "Comercio minorista|Retail",
        "technology": "Technology|Software ; Technologie|IT & Software ; "
                      "Technologie|Informatique ; Tecnología|Software",
        "telecommunications": "Telecommunications|Telco ; Telekommunikation|Telko ; "
                              "Télécommunications|Télécoms ; Telecomunicaciones|Telecos",
        "transportation": "Transportation|Logistics ; Transport|Logistik ; "
                          "Transport|Logistique ; Transporte|Logística",
        "utilities": "Utilities|Utility ; Versorger|Stadtwerke ; Services publics|Utilities ; "
                     "Suministros|Utilities",
        "other": "Other|Misc ; Sonstige|Andere ; Autre|Divers ; Otro|Otros",
    }),
    "account_type": _spellings({
        "customer_direct": "Customer - Direct|Customer ; Kunde - Direkt|Kunde ; "
                           "Client - Direct|Client ; Cliente - Directo|Cliente",
        "customer_channel": "Customer - Channel|Customer via Partner ; Kunde - Partner|"
                            "Kunde über Partner ; Client - Indirect|Client via partenaire ; "
                            "Cliente - Canal|Cliente vía partner",
        "technology_partner": "Technology Partner|Tech Partner ; Technologiepartner|"
                              "Tech-Partner ; Partenaire technologique|Partenaire tech ; "
                              "Socio tecnológico|Partner tecnológico",
        "other": "Other|Misc ; Sonstige|Andere ; Autre|Divers ; Otro|Otros",
    }),
    "rating": _spellings({
        "hot": "Hot|A ; Heiß|A ; Chaud|A ; Caliente|A",
        "warm": "Warm|B ; Warm|B ; Tiède|B ; Templado|B",
        "cold": "Cold|C ; Kalt|C ; Froid|C ; Frío|C",
    }),
    "account_ownership": _spellings({
        "public": "Public|Listed ; Börsennotiert|AG ; Cotée|Publique ; Cotizada|Pública",
        "private": "Private|Privately Held ; Privat|Inhabergeführt ; Privée|Non cotée ; "
                   "Privada|No cotizada",
        "subsidiary": "Subsidiary|Part of Group ; Tochtergesellschaft|Konzerntochter ; "
                      "Filiale|Groupe ; Filial|Grupo",
    }),
    "opportunity_stage": _spellings({
        "prospecting": "Prospecting|Discovery ; Akquise|Erstkontakt ; Prospection|Découverte ; "
                       "Prospección|Descubrimiento",
        "qualification": "Qualification|Qualify ; Qualifizierung|Bedarfsklärung ; "
                         "Qualification|Qualifier ; Calificación|Cualificar",
        "needs_analysis": "Needs Analysis|Scoping ; Bedarfsanalyse|Analyse ; "
                          "Analyse des besoins|Cadrage ; Análisis de necesidades|Alcance",
        "proposal_price_quote": "Proposal/Price Quote|Proposal ; Angebot|Angebotsphase ; "
                                "Proposition|Devis envoyé ; Propuesta|Oferta enviada",
        "negotiation_review": "Negotiation/Review|Negotiation ; Verhandlung|Vertragsprüfung ; "
                              "Négociation|Revue contrat ; Negociación|Revisión contrato",
        "closed_won": "Closed Won|Won ; Gewonnen|Abgeschlossen - gewonnen ; "
                      "Gagné|Conclu - gagné ; Ganado|Cerrado - ganado",
        "closed_lost": "Closed Lost|Lost ; Verloren|Abgeschlossen - verloren ; "
                       "Perdu|Conclu - perdu ; Perdido|Cerrado - perdido",
    }),
    "opportunity_type": _spellings({
        "new_business": "New Customer|New Business ; Neukunde|Neugeschäft ; "
                        "Nouveau client|New business ; Cliente nuevo|Nuevo negocio",
        "existing_upgrade": "Existing Customer - Upgrade|Upsell ; Bestandskunde - Ausbau|"
                            "Upsell ; Client existant - Extension|Upsell ; "
                            "Cliente existente - Ampliación|Upsell",
        "renewal": "Renewal|Contract Renewal ; Verlängerung|Vertragsverlängerung ; "
                   "Renouvellement|Reconduction ; Renovación|Renovación contrato",
        "existing_downgrade": "Existing Customer - Downgrade|Downsell ; Bestandskunde - Reduktion|"
                              "Downsell ; Client existant - Réduction|Downsell ; "
                              "Cliente existente - Reducción|Downsell",
    }),
    "forecast_category": _spellings({
        "pipeline": "Pipeline|Pipe ; Pipeline|Trichter ; Pipeline|Pipe ; Pipeline|Embudo",
        "best_case": "Best Case|Upside ; Best Case|Optimistisch ; Meilleur cas|Optimiste ; "
                     "Mejor caso|Optimista",
        "commit": "Commit|Committed ; Commit|Zugesagt ; Engagé|Commit ; Comprometido|Commit",
        "closed": "Closed|Booked ; Abgeschlossen|Gebucht ; Clôturé|Réservé ; "
                  "Cerrado|Reservado",
        "omitted": "Omitted|Excluded ; Ausgelassen|Ausgeschlossen ; Omis|Exclu ; "
                   "Omitido|Excluido",
    }),
    "lead_source": _spellings({
        "web": "Web|Website ; Web|Webseite ; Web|Site web ; Web|Sitio web",
        "phone_inquiry": "Phone Inquiry|Inbound Call ; Telefonanfrage|Anruf ; "
                         "Appel entrant|Demande téléphonique ; "
                         "Llamada entrante|Consulta telefónica",
        "partner_referral": "Partner Referral|Partner ; Partnerempfehlung|Partner ; "
                            "Recommandation partenaire|Partenaire ; Referencia partner|Partner",
        "purchased_list": "Purchased List|List Buy ; Gekaufte Liste|Adresskauf ; "
                          "Liste achetée|Fichier acheté ; Lista comprada|Base comprada",
        "employee_referral": "Employee Referral|Staff Referral ; Mitarbeiterempfehlung|"
                             "Empfehlung intern ; Cooptation|Recommandation interne ; "
                             "Referido empleado|Recomendación interna",
        "trade_show": "Trade Show|Event ; Messe|Veranstaltung ; Salon|Événement ; Feria|Evento",
        "webinar": "Webinar|Online Event ; Webinar|Online-Seminar ; Webinaire|Webinar ; "
                   "Webinar|Seminario web",
        "email_campaign": "Email Campaign|Email ; E-Mail Kampagne|Mailing ; "
                          "Campagne email|Emailing ; Campaña email|Mailing",
        "social_media": "Social Media|LinkedIn ; Soziale Medien|Social Media ; "
                        "Réseaux sociaux|Social ; Redes sociales|Social",
        "other": "Other|Misc ; Sonstige|Andere ; Autre|Divers ; Otro|Otros",
    }),
    "lead_status": _spellings({
        "open_not_contacted": "Open - Not Contacted|New ; Offen - nicht kontaktiert|Neu ; "
                              "Ouvert - non contacté|Nouveau ; Abierto - sin contactar|Nuevo",
        "working_contacted": "Working - Contacted|Working ; In Bearbeitung|Kontaktiert ; "
                             "En cours - contacté|En cours ; En curso - contactado|En curso",
        "nurturing": "Nurturing|Nurture ; Nurturing|In Pflege ; Maturation|Nurturing ; "
                     "Maduración|Nurturing",
        "closed_converted": "Closed - Converted|Converted ; Abgeschlossen - konvertiert|"
                            "Konvertiert ; Clôturé - converti|Converti ; "
                            "Cerrado - convertido|Convertido",
        "closed_not_converted": "Closed - Not Converted|Disqualified ; "
                                "Abgeschlossen - nicht konvertiert|Disqualifiziert ; "
                                "Clôturé - non converti|Disqualifié ; "
                                "Cerrado - no convertido|Descalificado",
    }),
    "case_status": _spellings({
        "new": "New|Open ; Neu|Offen ; Nouveau|Ouvert ; Nuevo|Abierto",
        "working": "Working|In Progress ; In Bearbeitung|Läuft ; En cours|Traitement ; "
                   "En curso|En proceso",
        "escalated": "Escalated|Escalation ; Eskaliert|Eskalation ; Escaladé|Escalade ; "
                     "Escalado|Escalación",
        "waiting_on_customer": "Waiting on Customer|Pending Customer ; Wartet auf Kunde|"
                               "Rückfrage Kunde ; En attente client|Attente client ; "
                               "Esperando cliente|Pendiente cliente",
        "closed": "Closed|Resolved ; Geschlossen|Erledigt ; Fermé|Résolu ; Cerrado|Resuelto",
    }),
    "priority": _spellings({
        "critical": "Critical|Urgent ; Kritisch|Dringend ; Critique|Urgent ; Crítica|Urgente",
        "high": "High|P1 ; Hoch|P1 ; Haute|P1 ; Alta|P1",
        "medium": "Medium|P2 ; Mittel|P2 ; Moyenne|P2 ; Media|P2",
        "low": "Low|P3 ; Niedrig|P3 ; Basse|P3 ; Baja|P3",
    }),
    "case_origin": _spellings({
        "phone": "Phone|Call ; Telefon|Anruf ; Téléphone|Appel ; Teléfono|Llamada",
        "email": "Email|E-mail ; E-Mail|Mail ; Email|Courriel ; Email|Correo",
        "web": "Web|Web Form ; Web|Webformular ; Web|Formulaire web ; Web|Formulario web",
        "chat": "Chat|Live Chat ; Chat|Livechat ; Chat|Tchat ; Chat|Chat en vivo",
    }),
    "case_type": _spellings({
        "problem": "Problem|Incident ; Problem|Störung ; Problème|Incident ; "
                   "Problema|Incidencia",
        "question": "Question|How-to ; Frage|Anfrage ; Question|Demande ; Pregunta|Consulta",
        "feature_request": "Feature Request|Enhancement ; Funktionswunsch|Verbesserung ; "
                           "Demande d'évolution|Évolution ; Solicitud de mejora|Mejora",
        "other": "Other|Misc ; Sonstige|Andere ; Autre|Divers ; Otro|Otros",
    }),
    "case_reason": _spellings({
        "performance": "Performance|Slow System ; Performance|Langsam ; "
                       "Performance|Lenteur ; Rendimiento|Lentitud",
        "complex_functionality": "Complex functionality|Usability ; Bedienung|Komplexität ; "
                                 "Complexité|Ergonomie ; Complejidad|Usabilidad",
        "billing": "Billing|Invoice Question ; Rechnung|Abrechnung ; Facturation|Facture ; "
                   "Facturación|Factura",
        "new_problem": "New problem|Bug ; Neuer Fehler|Bug ; Nouveau problème|Bug ; "
                       "Problema nuevo|Bug",
        "other": "Other|Misc ; Sonstige|Andere ; Autre|Divers ; Otro|Otros",
    }),
    "salutation": _spellings({
        "mr": "Mr.|Mr ; Herr|Hr. ; M.|Monsieur ; Sr.|Señor",
        "ms": "Ms.|Ms ; Frau|Fr. ; Mme|Madame ; Sra.|Señora",
        "dr": "Dr.|Dr ; Dr.|Dr ; Dr|Docteur ; Dr.|Doctor",
        "prof": "Prof.|Prof ; Prof.|Prof ; Pr|Professeur ; Prof.|Profesor",
    }),
    "customer_segment": _spellings({
        "smb": "SMB|Small Business ; KMU|Kleinkunde ; PME|TPE-PME ; PYME|Pequeña empresa",
        "mid_market": "Mid-Market|Midsize ; Mittelstand|Mittelgroß ; ETI|Mid-market ; "
                      "Mediana empresa|Mid-market",
        "enterprise": "Enterprise|Large ; Großkunde|Konzern ; Grand compte|Grande entreprise ; "
                      "Gran cuenta|Gran empresa",
        "strategic": "Strategic|Key Account ; Strategisch|Key Account ; "
                     "Stratégique|Compte clé ; Estratégico|Cuenta clave",
    }),
    "region": _spellings({
        "na": "North America|NA ; Nordamerika|NA ; Amérique du Nord|AMNO ; "
              "Norteamérica|NA",
        "emea": "EMEA|Europe ; EMEA|Europa ; EMEA|Europe ; EMEA|Europa",
        "apac": "APAC|Asia Pacific ; APAC|Asien-Pazifik ; APAC|Asie-Pacifique ; "
                "APAC|Asia Pacífico",
        "latam": "LATAM|Latin America ; LATAM|Lateinamerika ; LATAM|Amérique latine ; "
                 "LATAM|Latinoamérica",
    }),
    "contract_term": _spellings({
        "month_to_month": "Monthly|Month-to-month ; Monatlich|Monatlich kündbar ; "
                          "Mensuel|Sans engagement ; Mensual|Sin permanencia",
        "annual": "Annual|12 months ; Jährlich|12 Monate ; Annuel|12 mois ; Anual|12 meses",
        "multi_year": "Multi-year|36 months ; Mehrjährig|36 Monate ; Pluriannuel|36 mois ; "
                      "Plurianual|36 meses",
    }),
    "billing_frequency": _spellings({
        "monthly": "Monthly|Every month ; Monatlich|Monat ; Mensuelle|Mois ; Mensual|Mes",
        "quarterly": "Quarterly|Every quarter ; Quartalsweise|Quartal ; "
                     "Trimestrielle|Trimestre ; Trimestral|Trimestre",
        "annual": "Annually|Yearly ; Jährlich|Jahr ; Annuelle|Année ; Anual|Año",
    }),
    "payment_method": _spellings({
        "credit_card": "Credit Card|Card ; Kreditkarte|Karte ; Carte bancaire|CB ; "
                       "Tarjeta de crédito|Tarjeta",
        "bank_transfer": "Bank Transfer|Wire ; Überweisung|Banküberweisung ; Virement|"
                         "Virement bancaire ; Transferencia|Transferencia bancaria",
        "direct_debit": "Direct Debit|ACH ; Lastschrift|SEPA-Lastschrift ; Prélèvement|"
                        "Prélèvement SEPA ; Domiciliación|Adeudo SEPA",
        "invoice": "Invoice|Net 30 ; Rechnung|Auf Rechnung ; Facture|Paiement à 30 jours ; "
                   "Factura|Pago a 30 días",
    }),
    "health_status": _spellings({
        "green": "Green|Healthy ; Grün|Gesund ; Vert|Sain ; Verde|Sano",
        "amber": "Amber|Yellow ; Gelb|Beobachten ; Orange|À surveiller ; Ámbar|Amarillo",
        "red": "Red|At Risk ; Rot|Kritisch ; Rouge|Critique ; Rojo|Crítico",
    }),
    "churn_reason": _spellings({
        "price": "Price|Too expensive ; Preis|Zu teuer ; Prix|Trop cher ; Precio|Muy caro",
        "competitor": "Competitor|Moved to competitor ; Wettbewerber|Zur Konkurrenz ; "
                      "Concurrent|Parti chez un concurrent ; Competidor|Se fue a la competencia",
        "product_fit": "Product fit|Missing features ; Produkt passt nicht|Funktionen fehlen ; "
                       "Inadéquation produit|Fonctions manquantes ; "
                       "No encaja el producto|Faltan funciones",
        "low_adoption": "Low adoption|Never used it ; Geringe Nutzung|Nie genutzt ; "
                        "Faible adoption|Jamais utilisé ; Baja adopción|No lo usaban",
        "poor_support": "Poor support|Service issues ; Schlechter Support|Serviceprobleme ; "
                        "Support insuffisant|Problèmes de service ; Mal soporte|"
                        "Problemas de servicio",
        "budget_cuts": "Budget cuts|No budget ; Budgetkürzung|Kein Budget ; "
                       "Coupes budgétaires|Plus de budget ; Recortes|Sin presupuesto",
        "acquired": "Acquired|Merger ; Übernommen|Fusion ; Racheté|Fusion ; Adquirida|Fusión",
        "other": "Other|Misc ; Sonstige|Andere ; Autre|Divers ; Otro|Otros",
    }),
    "loss_reason": _spellings({
        "price": "Price|Too expensive ; Preis|Zu teuer ; Prix|Trop cher ; Precio|Muy caro",
        "competitor": "Competitor|Lost to competitor ; Wettbewerber|An Konkurrenz verloren ; "
                      "Concurrent|Perdu contre concurrent ; Competidor|Perdido ante competidor",
        "no_decision": "No decision|Went dark ; Keine Entscheidung|Keine Rückmeldung ; "
                       "Pas de décision|Sans suite ; Sin decisión|Sin respuesta",
        "no_budget": "No budget|Budget pulled ; Kein Budget|Budget gestrichen ; "
                     "Pas de budget|Budget annulé ; Sin presupuesto|Presupuesto retirado",
        "product_fit": "Product fit|Missing feature ; Produkt passt nicht|Funktion fehlt ; "
                       "Inadéquation produit|Fonction manquante ; No encaja|Falta función",
        "timing": "Timing|Not now ; Zeitpunkt|Später ; Calendrier|Pas maintenant ; "
                  "Momento|Más adelante",
        "other": "Other|Misc ; Sonstige|Andere ; Autre|Divers ; Otro|Otros",
    }),
    "product_tier": _spellings({
        "basic": "Basic|Starter ; Basis|Starter ; Essentiel|Starter ; Básico|Starter",
        "standard": "Standard|Team ; Standard|Team ; Standard|Équipe ; Estándar|Equipo",
        "professional": "Professional|Pro ; Professional|Pro ; Professionnel|Pro ; "
                        "Profesional|Pro",
        "enterprise": "Enterprise|Unlimited ; Enterprise|Konzern ; Entreprise|Illimité ; "
                      "Empresa|Ilimitado",
    }),
    "engagement_level": _spellings({
        "high": "High|Strong ; Hoch|Stark ; Élevé|Fort ; Alto|Fuerte",
        "medium": "Medium|OK ; Mittel|Okay ; Moyen|Correct ; Medio|Normal",
        "low": "Low|Weak ; Niedrig|Schwach ; Faible|Bas ; Bajo|Débil",
        "none": "None|No contact ; Keins|Kein Kontakt ; Aucun|Pas de contact ; "
                "Ninguno|Sin contacto",
    }),
    "nps_category": _spellings({
        "promoter": "Promoter|Promoters ; Promotor|Fan ; Promoteur|Ambassadeur ; "
                    "Promotor|Fan",
        "passive": "Passive|Neutral ; Passiv|Neutral ; Passif|Neutre ; Pasivo|Neutral",
        "detractor": "Detractor|Critic ; Kritiker|Detraktor ; Détracteur|Critique ; "
                     "Detractor|Crítico",
    }),
    "usage_trend": _spellings({
        "increasing": "Increasing|Up ; Steigend|Wachsend ; En hausse|Croissant ; "
                      "Creciente|Al alza",
        "stable": "Stable|Flat ; Stabil|Gleichbleibend ; Stable|Constant ; "
                  "Estable|Sin cambios",
        "declining": "Declining|Down ; Fallend|Rückläufig ; En baisse|Décroissant ; "
                     "Decreciente|A la baja",
    }),
    "lead_grade": _spellings({
        "a": "A|A - Ideal ; A|A - Ideal ; A|A - Idéal ; A|A - Ideal",
        "b": "B|B - Good ; B|B - Gut ; B|B - Bon ; B|B - Bueno",
        "c": "C|C - Fair ; C|C - Mittel ; C|C - Moyen ; C|C - Regular",
        "d": "D|D - Poor ; D|D - Schwach ; D|D - Faible ; D|D - Malo",
    }),
    "seniority": _spellings({
        "c_level": "C-Level|Executive ; Geschäftsführung|Vorstand ; Direction générale|"
                   "Comex ; Alta dirección|Comité ejecutivo",
        "vp": "VP|Vice President ; Bereichsleitung|VP ; VP|Vice-président ; "
              "VP|Vicepresidente",
        "director": "Director|Head of ; Abteilungsleitung|Leiter ; Directeur|Responsable ; "
                    "Director|Jefe de área",
        "manager": "Manager|Team Lead ; Teamleitung|Manager ; Manager|Chef d'équipe ; "
                   "Gerente|Jefe de equipo",
        "individual_contributor": "Individual Contributor|Staff ; Sachbearbeitung|"
                                  "Mitarbeiter ; Collaborateur|Employé ; Empleado|Técnico",
    }),
    "buying_role": _spellings({
        "decision_maker": "Decision Maker|Signer ; Entscheider|Unterzeichner ; "
                          "Décideur|Signataire ; Decisor|Firmante",
        "economic_buyer": "Economic Buyer|Budget Holder ; Budgetverantwortlich|"
                          "Wirtschaftlicher Käufer ; Acheteur économique|Détenteur budget ; "
                          "Comprador económico|Dueño presupuesto",
        "evaluator": "Evaluator|Tester ; Evaluator|Prüfer ; Évaluateur|Testeur ; "
                     "Evaluador|Probador",
        "influencer": "Influencer|Advisor ; Beeinflusser|Berater ; Influenceur|Conseiller ; "
                      "Influenciador|Asesor",
        "champion": "Champion|Internal Advocate ; Fürsprecher|Champion ; "
                    "Champion|Allié interne ; Promotor interno|Champion",
        "business_user": "Business User|End User ; Fachanwender|Endnutzer ; "
                         "Utilisateur métier|Utilisateur final ; Usuario de negocio|"
                         "Usuario final",
        "technical_buyer": "Technical Buyer|IT Buyer ; Technischer Entscheider|IT ; "
                           "Acheteur technique|DSI ; Comprador técnico|Sistemas",
    }),
    "sla_level": _spellings({
        "platinum": "Platinum|24x7 ; Platin|24x7 ; Platine|24h/24 ; Platino|24x7",
        "gold": "Gold|Premium ; Gold|Premium ; Or|Premium ; Oro|Premium",
        "silver": "Silver|Standard ; Silber|Standard ; Argent|Standard ; Plata|Estándar",
        "bronze": "Bronze|Basic ; Bronze|Basis ; Bronze|Basique ; Bronce|Básico",
    }),
    "purchase_timeframe": _spellings({
        "immediate": "Immediately|Now ; Sofort|Jetzt ; Immédiat|Maintenant ; "
                     "Inmediato|Ya",
        "within_3_months": "< 3 months|This quarter ; < 3 Monate|Dieses Quartal ; "
                           "< 3 mois|Ce trimestre ; < 3 meses|Este trimestre",
        "within_6_months": "3-6 months|Next 6 months ; 3-6 Monate|Halbjahr ; "
                           "3-6 mois|Semestre ; 3-6 meses|Semestre",
        "within_12_months": "6-12 months|This year ; 6-12 Monate|Dieses Jahr ; "
                            "6-12 mois|Cette année ; 6-12 meses|Este año",
        "over_12_months": "> 12 months|Next year+ ; > 12 Monate|Nächstes Jahr ; "
                          "> 12 mois|Année prochaine ; > 12 meses|Año que viene",
        "no_timeframe": "No timeframe|Unknown ; Kein Zeitrahmen|Unbekannt ; "
                        "Pas de délai|Inconnu ; Sin plazo|Desconocido",
    }),
    "sentiment": _spellings({
        "positive": "Positive|Happy ; Positiv|Zufrieden ; Positif|Content ; "
                    "Positivo|Contento",
        "neutral": "Neutral|OK ; Neutral|Okay ; Neutre|Correct ; Neutral|Normal",
        "negative": "Negative|Upset ; Negativ|Verärgert ; Négatif|Mécontent ; "
                    "Negativo|Molesto",
    }),
}

#: Values of participant-specific picklists (groups) and distractor picklists; code → spellings.
EXTRA_SPELLINGS: dict[str, dict[str, dict[str, tuple[str, ...]]]] = {
    "partner_tier": _spellings({
        "registered": "Registered|Member ; Registriert|Mitglied ; Enregistré|Membre ; "
                      "Registrado|Miembro",
        "silver": "Silver|Select ; Silber|Select ; Argent|Select ; Plata|Select",
        "gold": "Gold|Advanced ; Gold|Advanced ; Or|Avancé ; Oro|Avanzado",
        "platinum": "Platinum|Elite ; Platin|Elite ; Platine|Élite ; Platino|Élite",
    }),
    "onboarding_status": _spellings({
        "not_started": "Not started|Planned ; Nicht begonnen|Geplant ; Pas commencé|Prévu ; "
                       "No iniciado|Planificado",
        "in_progress": "In progress|Implementing ; Läuft|In Umsetzung ; En cours|"
                       "En déploiement ; En curso|Implantando",
        "live": "Live|Done ; Produktiv|Abgeschlossen ; En production|Terminé ; "
                "En producción|Terminado",
    }),
    "preferred_catering": _spellings({
        "vegetarian": "Vegetarian|Veggie ; Vegetarisch|Veggie ; Végétarien|Veggie ; "
                      "Vegetariano|Veggie",
        "vegan": "Vegan|Plant-based ; Vegan|Pflanzlich ; Végan|Végétal ; Vegano|Vegetal",
        "halal": "Halal|Halal ; Halal|Halal ; Halal|Halal ; Halal|Halal",
        "none": "No preference|Anything ; Keine Präferenz|Egal ; Pas de préférence|"
                "Indifférent ; Sin preferencia|Indiferente",
    }),
    "tshirt_size": _spellings({
        "s": "S|Small ; S|Klein ; S|Petit ; S|Pequeña",
        "m": "M|Medium ; M|Mittel ; M|Moyen ; M|Mediana",
        "l": "L|Large ; L|Groß ; L|Grand ; L|Grande",
        "xl": "XL|X-Large ; XL|Sehr groß ; XL|Très grand ; XL|Muy grande",
    }),
    "newsletter_format": _spellings({
        "html": "HTML|Rich ; HTML|Formatiert ; HTML|Riche ; HTML|Enriquecido",
        "text": "Plain text|Text ; Nur Text|Text ; Texte brut|Texte ; Texto plano|Texto",
    }),
}


def spell(table: dict[str, dict[str, tuple[str, ...]]], code: str, language: str,
          variant: int) -> str:
    """The spelling of ``code`` in ``language``, variant ``variant`` (wrapping around)."""
    options = table[code][language]
    return options[variant % len(options)]
