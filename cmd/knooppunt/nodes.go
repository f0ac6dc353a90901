package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"knooppunt/exchange"
	"knooppunt/sshserver/opdrachten"
	"knooppunt/storage"
)

// nodesCmd lists the nodes that share a PostgreSQL database, with their last heartbeat: what
// `ssh beheer@hub nodes` shows, for a machine that reaches the database but runs no node.
// Exit 0: listed; 1: the database failed; 2: wrong usage.
func nodesCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("nodes", flag.ContinueOnError)
	fs.SetOutput(stderr)
	flags := addBackendFlags(fs)
	asJSON := fs.Bool("json", false, "als JSON")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	b, err := flags()
	if err == nil && fs.NArg() > 0 {
		err = fmt.Errorf("onverwacht argument %q", fs.Arg(0))
	}
	if err == nil && b.database == "" {
		err = errors.New("geef --database postgres://… (KNOOPPUNT_DATABASE_URL); een hub op Badger in één gegevensmap is één knooppunt")
	}
	if err != nil {
		fmt.Fprintf(stderr, "fout: %v\ngebruik: knooppunt nodes --database postgres://… [--json]\n", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := storage.OpenPostgres(ctx, b.database, slog.New(slog.DiscardHandler))
	if err != nil {
		fmt.Fprintf(stderr, "fout: %v\n", err)
		return 1
	}
	defer db.Close()
	nodes, err := exchange.ListNodes(db, time.Now())
	if err != nil {
		fmt.Fprintf(stderr, "fout: %v\n", err)
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(nodes); err != nil {
			return 1
		}
		return 0
	}
	fmt.Fprint(stdout, opdrachten.NodesText(nodes, time.Now()))
	return 0
}
