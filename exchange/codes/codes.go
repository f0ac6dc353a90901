package codes

// Code is a rejection code shown in a verwerkingsverslag. The IB codes are the national hub's
// (2025 list); the KP codes are this hub's own, for cases the national list does not name.
type Code string

const (
	IB001 Code = "IB001"
	IB002 Code = "IB002"
	IB003 Code = "IB003"
	IB004 Code = "IB004"
	IB005 Code = "IB005"
	IB006 Code = "IB006"
	IB007 Code = "IB007"
	IB016 Code = "IB016"
	IB023 Code = "IB023"
	IB901 Code = "IB901"
	IB902 Code = "IB902"
	IB903 Code = "IB903"
	IB904 Code = "IB904"
	IB905 Code = "IB905"

	KP001 Code = "KP001" // ontvanger (AGB, CAK, SVB) unknown to the hub; the old IB210
	KP002 Code = "KP002" // file in a ZIP that is not .xml
	KP003 Code = "KP003" // archive inside a ZIP
	KP004 Code = "KP004" // decompression bomb
	KP005 Code = "KP005" // crossRefnummer names no known heen message between these parties
	KP006 Code = "KP006" // functie belongs to another product than the folder it was uploaded to
	KP007 Code = "KP007" // XML the hub does not process: a DTD, not UTF-8, a parser limit (not well-formed is IB001)
	KP008 Code = "KP008" // PGB file without envelope whose recipient cannot be told

	// Refused at the door (RefuseUpload): the file never reached the engine.
	KP009 Code = "KP009" // file name that can never be an upload
	KP010 Code = "KP010" // ZIP larger than 1 GB (an .xml over 25 MB is IB003)
	KP011 Code = "KP011" // the organisation's daily upload quota is used up
	KP012 Code = "KP012" // the hub was busy: no room for the upload within the wait
	KP013 Code = "KP013" // written outside aanleveren/
)

// Omschrijving is the Dutch text of each code, as the verwerkingsverslag shows it.
var omschrijving = map[Code]string{
	IB001: "Envelop voldoet niet aan het XSD",
	IB002: "Organisatie is niet geautoriseerd",
	IB003: "Bericht is groter dan 25 MB",
	IB004: "Functie wordt niet ondersteund",
	IB005: "Gemeentecode is onbekend",
	IB006: "Verzendend systeem is niet geautoriseerd voor deze combinatie van berichtcode en functie",
	IB007: "Combinatie van functie en organisatie is niet toegestaan",
	IB016: "Referentienummer is niet uniek",
	IB023: "Functie is niet actief",
	IB901: "Geen geldig ZIP-bestand",
	IB902: "ZIP-bestand bevat meer bestanden dan toegestaan",
	IB903: "ZIP-bestand is beveiligd met een wachtwoord",
	IB904: "Bestand in het ZIP-bestand is groter dan 25 MB",
	IB905: "ZIP-bestand bevat minder bestanden dan toegestaan",
	KP001: "Ontvangende organisatie is onbekend",
	KP002: "Bestand is geen XML-bestand",
	KP003: "Archief in een archief wordt niet geaccepteerd",
	KP004: "Bestand pakt uit tot een onredelijke omvang (zip-bom)",
	KP005: "crossRefnummer verwijst niet naar een bekend heenbericht",
	KP006: "Functie hoort niet bij dit product",
	KP007: "XML wordt door het knooppunt niet verwerkt (DTD, tekenset of grens)",
	KP008: "Ontvanger van het PGB-bestand is niet te bepalen",
	KP009: "Bestandsnaam wordt niet aangenomen",
	KP010: "ZIP-bestand is groter dan 1 GB",
	KP011: "Dagquotum voor aanleveren is bereikt",
	KP012: "Knooppunt is bezet",
	KP013: "Aanleveren kan alleen in de map aanleveren/",
}

// Omschrijving returns the code's Dutch description.
func (c Code) Omschrijving() string {
	if s, ok := omschrijving[c]; ok {
		return s
	}
	return string(c)
}

// Codes lists every code in a stable order, for documentation and the help command.
func Codes() []Code {
	return []Code{IB001, IB002, IB003, IB004, IB005, IB006, IB007, IB016, IB023, IB901, IB902, IB903, IB904, IB905, KP001, KP002, KP003, KP004, KP005, KP006, KP007, KP008, KP009, KP010, KP011, KP012, KP013}
}
