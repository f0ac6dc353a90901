package opdrachten

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	"knooppunt/exchange"
)

// auditCommands let the beheerder check the hash-chained audit log and take it elsewhere;
// exchange refuses everyone else (exit 3).
var auditCommands = []command{
	{
		words: []string{"audit", "verify"}, maxArgs: 0,
		flags: []flagSpec{{name: "anker", value: "REGEL:HASH"}},
		help:  "controleert de hashketen van het auditlog en toont de kop; --anker: en dat die regel nog de eerder genoteerde hash heeft (beheerder)",
		run:   runAuditVerify,
	},
	{
		words: []string{"audit", "export"}, maxArgs: 0,
		flags: []flagSpec{{name: "van", value: "REGEL"}},
		help:  "het auditlog als JSON-regels (één regel per gebeurtenis, met hash en vorige hash), vanaf regel REGEL (beheerder)",
		run:   runAuditExport,
	},
}

func runAuditVerify(c *cmdCtx, in *input) error {
	var anchor *exchange.AuditAnchor
	if s := in.flag("anker"); s != "" {
		a, err := exchange.ParseAuditAnchor(s)
		if err != nil {
			return usageError{err.Error()}
		}
		anchor = &a
	}
	res, err := c.hub.CheckAudit(c.p, anchor)
	if err != nil {
		return err
	}
	if err := c.emit(res, func(w io.Writer) { fmt.Fprintln(w, AuditCheckText(res)) }); err != nil {
		return err
	}
	if !res.Intact() {
		return fmt.Errorf("het auditlog is niet intact; bewaar de gegevensmap zoals hij is en meld het als beveiligingsincident (zie SECURITY.md)")
	}
	return nil
}

// AuditCheckText says in one or two lines what a check found, for the CLI and for ssh.
func AuditCheckText(c exchange.AuditCheck) string {
	head := fmt.Sprintf("kop: %d:%s (noteer deze elders als anker voor 'audit verify --anker')", c.HeadSeq, c.HeadHash)
	switch {
	case c.FirstBroken != 0:
		return fmt.Sprintf("auditlog GEBROKEN: regel %d is gewijzigd, verwijderd of ingevoegd (%d regels gecontroleerd)", c.FirstBroken, c.Entries)
	case c.AnchorOK != nil && !*c.AnchorOK:
		return fmt.Sprintf("auditlog GEBROKEN: de keten klopt in zichzelf, maar het anker niet: het log is herschreven\n%s", head)
	case c.Entries == 0:
		return "auditlog intact: nog geen regels"
	case c.AnchorOK != nil:
		return fmt.Sprintf("auditlog intact: %d regels, anker klopt\n%s", c.Entries, head)
	}
	return fmt.Sprintf("auditlog intact: %d regels\n%s", c.Entries, head)
}

func runAuditExport(c *cmdCtx, in *input) error {
	var from uint64 = 1
	if s := in.flag("van"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil || n == 0 {
			return usagef("--van %q is geen regelnummer (1 of hoger)", s)
		}
		from = n
	}
	enc := json.NewEncoder(c.jsonOut())
	enc.SetEscapeHTML(false)
	return c.hub.ExportAudit(c.p, from, func(e exchange.AuditEntry) error { return enc.Encode(e) })
}
