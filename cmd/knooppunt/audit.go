package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"

	"knooppunt/exchange"
	"knooppunt/sshserver"
	"knooppunt/storage"
)

// audit runs `knooppunt audit verify|export` on a store no server holds; when one does, it
// names the same command over SSH.
func audit(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "verify" && args[0] != "export") {
		fmt.Fprintln(stderr, "gebruik: knooppunt audit verify [--data DIR] [--anker REGEL:HASH]\n       knooppunt audit export [--data DIR] [--van REGEL]")
		return 2
	}
	sub := args[0]
	fs := newSubFlags("audit "+sub, "gebruik: knooppunt audit verify [--data DIR] [--anker REGEL:HASH]\n       knooppunt audit export [--data DIR] [--van REGEL]", stdout, stderr)
	data := fs.data()
	anker := fs.String("anker", "", "REGEL:HASH, de kop die een eerdere 'audit verify' toonde")
	van := fs.String("van", "1", "eerste regel van de export")
	if exit, ok := fs.parse(args[1:]); !ok {
		return exit
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "fout: onverwacht argument %q\n", fs.Arg(0))
		return 2
	}
	var anchor *exchange.AuditAnchor
	if *anker != "" {
		a, err := exchange.ParseAuditAnchor(*anker)
		if err != nil {
			fmt.Fprintln(stderr, "fout:", err)
			return 2
		}
		anchor = &a
	}
	from, err := strconv.ParseUint(*van, 10, 64)
	if err != nil || from == 0 {
		fmt.Fprintf(stderr, "fout: --van %q is geen regelnummer (1 of hoger)\n", *van)
		return 2
	}
	if _, err := os.Stat(*data); err != nil {
		fmt.Fprintf(stderr, "fout: gegevensmap %s: %v\n", *data, err)
		return 1
	}
	hub, ok := openStopped(*data, stderr, "Vraag het die server via SSH: ssh -p %s beheer@%s audit "+sub)
	if !ok {
		return 1
	}
	defer hub.Close()
	if sub == "export" {
		// Entries hold text from outside (user names offered at login, paths): escaped so that
		// a terminal showing the export is not steered; the JSON means the same.
		enc := json.NewEncoder(exchange.JSONWriter{W: stdout})
		enc.SetEscapeHTML(false)
		if err := hub.ExportAudit(exchange.System, from, func(e exchange.AuditEntry) error { return enc.Encode(e) }); err != nil {
			fmt.Fprintln(stderr, "fout:", err)
			return 1
		}
		return 0
	}
	res, err := hub.CheckAudit(exchange.System, anchor)
	if err != nil {
		fmt.Fprintln(stderr, "fout:", err)
		return 1
	}
	fmt.Fprintln(stdout, sshserver.AuditCheckText(res))
	if !res.Intact() {
		fmt.Fprintln(stderr, "fout: het auditlog is niet intact; bewaar de gegevensmap zoals hij is en meld het als beveiligingsincident (zie SECURITY.md)")
		return 1
	}
	return 0
}

// openStopped opens the store of a hub that is not running, for the offline commands. When a
// server holds it, it says so and how to ask that server instead: online has two %s, the port
// and the host from KNOOPPUNT_LISTEN.
func openStopped(data string, stderr io.Writer, online string) (*exchange.Hub, bool) {
	if sharedStore(data, stderr, online) {
		return nil, false
	}
	hub, err := exchange.Open(exchange.Config{DataDir: data, Log: slog.New(slog.DiscardHandler)})
	if errors.Is(err, storage.ErrLocked) {
		listen := envOr("KNOOPPUNT_LISTEN", defaultListen)
		fmt.Fprintf(stderr, "fout: de gegevensmap %s is in gebruik door een draaiende knooppunt-server. "+online+"\n",
			data, portOf(listen), hostOf(listen))
		return nil, false
	}
	if err != nil {
		fmt.Fprintf(stderr, "fout: opslag in %s openen: %v\n", data, err)
		return nil, false
	}
	return hub, true
}
