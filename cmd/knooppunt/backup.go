package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"knooppunt/exchange"
	"knooppunt/sshserver"
)

// backupCmd makes a backup of a store no server holds (offline). A running hub is backed up
// online over SSH, as the beheerder: `ssh beheer@hub backup > FILE`; then the CLI says so.
// The CLI does not connect over SSH itself: it would need the beheerder's private key on
// the server, and the SSH form works from any machine the beheerder's key is on.
func backupCmd(args []string, stdout, stderr io.Writer) int {
	fs := newSubFlags("backup", "", stdout, stderr)
	data := fs.data()
	to := fs.String("to", "", "backupbestand (tar); - voor stdout")
	since := fs.String("sinds", "", "een aanvulling op deze eerdere backup (het tar-bestand of zijn manifest.json): alleen nieuwe bestanden")
	if exit, ok := fs.parse(args); !ok {
		return exit
	}
	if fs.NArg() > 0 || *to == "" {
		fmt.Fprintln(stderr, "gebruik: knooppunt backup --to BESTAND [--data DIR] [--sinds VORIGE.tar]   (een draaiende server: ssh beheer@knooppunt backup > BESTAND)")
		return 2
	}
	if _, err := os.Stat(filepath.Join(*data, "db")); err != nil {
		fmt.Fprintf(stderr, "fout: in %s staat geen knooppunt-opslag (%v); geef de gegevensmap met --data\n", *data, err)
		return 1
	}
	hub, ok := openStopped(*data, stderr, "Maak de backup online via SSH, als beheerder: ssh -p %s beheer@%s backup > "+strings.ReplaceAll(*to, "%", "%%"))
	if !ok {
		return 1
	}
	defer hub.Close()
	var prev *exchange.BackupManifest
	if *since != "" {
		f, err := os.Open(*since)
		if err != nil {
			fmt.Fprintf(stderr, "fout: --sinds: %v\n", err)
			return 1
		}
		m, err := exchange.ReadManifest(f)
		f.Close()
		if err != nil {
			fmt.Fprintf(stderr, "fout: --sinds %s: %v\n", *since, err)
			return 1
		}
		prev = &m
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	var m exchange.BackupManifest
	var err error
	if *to == "-" {
		w := bufio.NewWriterSize(stdout, 256<<10)
		if m, err = hub.Backup(ctx, exchange.System, w, prev); err == nil {
			err = w.Flush()
		}
	} else {
		m, err = backupToFile(ctx, hub, *to, prev)
	}
	if err != nil {
		fmt.Fprintf(stderr, "fout: backup mislukt: %v\n", err)
		return 1
	}
	el := time.Since(start)
	fmt.Fprintln(stderr, sshserver.BackupText(m))
	fmt.Fprintf(stderr, "in %s (%.0f MB/s aan bestanden)\n", el.Round(time.Millisecond), float64(m.Bytes)/(1<<20)/max(el.Seconds(), 1e-3))
	return 0
}

// backupToFile writes FILE.partial, syncs it and renames it: a file under the final name is
// always a whole backup.
func backupToFile(ctx context.Context, hub *exchange.Hub, name string, prev *exchange.BackupManifest) (exchange.BackupManifest, error) {
	tmp := name + ".partial"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return exchange.BackupManifest{}, err
	}
	defer os.Remove(tmp)
	w := bufio.NewWriterSize(f, 1<<20)
	m, err := hub.Backup(ctx, exchange.System, w, prev)
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	return m, err
}

// restoreCmd fills a new data directory from a backup and proves it: every checksum, then
// audit verify and the integrity check at start, whose results it prints.
func restoreCmd(args []string, stdout, stderr io.Writer) int {
	fs := newSubFlags("restore", "", stdout, stderr)
	var from multiFlag
	fs.Var(&from, "from", "backupbestand (tar), - voor stdin; herhaal voor een aanvulling: eerst de aanvulling, dan de backups waarop die voortbouwt")
	data := fs.String("data", "", "nieuwe, lege gegevensmap")
	if exit, ok := fs.parse(args); !ok {
		return exit
	}
	if fs.NArg() > 0 || len(from) == 0 || *data == "" {
		fmt.Fprintln(stderr, "gebruik: knooppunt restore --from BESTAND [--from EERDERE-BACKUP…] --data NIEUWEMAP")
		return 2
	}
	var readers []io.Reader
	for _, name := range from {
		if name == "-" {
			readers = append(readers, os.Stdin)
			continue
		}
		f, err := os.Open(name)
		if err != nil {
			fmt.Fprintf(stderr, "fout: %v\n", err)
			return 1
		}
		defer f.Close()
		readers = append(readers, f)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	res, err := exchange.RestoreBackup(ctx, readers[0], exchange.Config{DataDir: *data, Log: slog.New(slog.DiscardHandler)}, readers[1:]...)
	if err != nil {
		fmt.Fprintf(stderr, "fout: restore mislukt: %v\n(er is niets teruggezet; %s is gelaten zoals hij was)\n", err, *data)
		return 1
	}
	m := res.Manifest
	fmt.Fprintf(stdout, "teruggezet in %s: backup van %s, %d records, %d bestanden (%.1f MB), alle controlegetallen kloppen (%s)\n",
		*data, m.Moment.Format("2006-01-02 15:04:05 MST"), res.Records, res.Files, float64(res.Bytes)/(1<<20), time.Since(start).Round(time.Millisecond))
	fmt.Fprintln(stdout, sshserver.AuditCheckText(res.Audit))
	ok := true
	if res.AuditMatches {
		fmt.Fprintf(stdout, "auditkop gelijk aan die van de backup (%d:%s)\n", m.AuditSeq, m.AuditHash)
	} else {
		ok = false
		fmt.Fprintf(stdout, "auditkop VERSCHILT van die van de backup (%d:%s)\n", m.AuditSeq, m.AuditHash)
	}
	fmt.Fprintf(stdout, "bestandscontrole: %d gecontroleerd, %d beschadigd of ontbrekend", res.FilesChecked, res.FilesBad)
	if len(m.Missing) > 0 {
		fmt.Fprintf(stdout, " (%d ontbraken al in de opslag waarvan de backup is gemaakt)", len(m.Missing))
	}
	fmt.Fprintln(stdout)
	if res.FilesBad != len(m.Missing) {
		ok = false
	}
	if !ok {
		fmt.Fprintln(stderr, "fout: de teruggezette opslag wijkt af van de backup; gebruik hem niet en bewaar backup en map voor onderzoek")
		return 1
	}
	fmt.Fprintf(stdout, "start de hub met: knooppunt serve --data %s\n", *data)
	return 0
}

// multiFlag collects a flag given more than once.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
