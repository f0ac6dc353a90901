package opdrachten

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"knooppunt/exchange"
)

// backupCommands give the beheerder an online backup: the tar goes to stdout, byte for byte
// (no terminal: ssh without -t), streamed, so `ssh beheer@hub backup > hub.tar` works while
// the hub serves and processes. exchange refuses everyone else (exit 3).
var backupCommands = []command{
	{
		words: []string{"backup"}, maxArgs: 0,
		flags: []flagSpec{{name: "sinds", value: "-"}},
		help: "schrijft een backup van één moment als tar naar stdout: ssh beheer@knooppunt backup > knooppunt.tar; " +
			"--sinds -: een aanvulling op de vorige backup, waarvan het manifest op stdin komt " +
			"(tar -xOf vorige.tar manifest.json | ssh beheer@knooppunt backup --sinds - > aanvulling.tar); " +
			"terugzetten met 'knooppunt restore --from BESTAND --data NIEUWEMAP' (beheerder)",
		run: runBackup,
	},
}

func runBackup(c *cmdCtx, in *input) error {
	// A backup is binary: it goes to the session as it is, not through the text filter that
	// keeps other commands' output from steering a terminal (a terminal is refused below).
	out := c.raw
	if out == nil {
		out = c.out
	}
	ctx := c.ctx // ends when the client goes away
	if ctx == nil {
		ctx = context.Background()
	}
	if c.terminal {
		return usagef("een backup is binair: vraag hem zonder terminal en stuur stdout naar een bestand, bijvoorbeeld: ssh beheer@knooppunt backup > knooppunt.tar")
	}
	if in.flag("sinds") != "" {
		// Before reading a manifest from stdin; exchange decides again, in its transaction.
		if err := c.hub.Allowed(c.p, exchange.ActionBackup, ""); err != nil {
			c.hub.Audit(c.p, "backup", "", err.Error())
			return err
		}
	}
	var prev *exchange.BackupManifest
	switch s := in.flag("sinds"); s {
	case "":
	case "-":
		if c.in == nil {
			return fmt.Errorf("--sinds -: geen stdin")
		}
		m, err := exchange.ReadManifest(c.in)
		if err != nil {
			return err
		}
		prev = &m
	default:
		return usagef("--sinds neemt alleen - (het manifest van de vorige backup op stdin): tar -xOf vorige.tar manifest.json | ssh beheer@knooppunt backup --sinds - > aanvulling.tar")
	}
	// A client that stops reading would hold the backup's snapshot and its parked files
	// forever: the connection closes when no byte has gone out for backupStall.
	sw := &stallWriter{w: out}
	sw.touch()
	stop := make(chan struct{})
	defer close(stop)
	if c.hangup != nil {
		// The whole connection: closing only the channel would not free a write that waits
		// for a client that reads nothing.
		go sw.watch(stop, backupStall, c.hangup)
	}
	w := bufio.NewWriterSize(sw, 256<<10)
	m, err := c.hub.Backup(ctx, c.p, w, prev)
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		return fmt.Errorf("backup mislukt: %w; het bestand is onbruikbaar, probeer het opnieuw", err)
	}
	fmt.Fprintln(c.errOut, BackupText(m))
	return nil
}

// BackupText says in one or two lines what a backup holds, for the CLI and for ssh.
func BackupText(m exchange.BackupManifest) string {
	s := fmt.Sprintf("backup klaar: moment %s, %d records, %d bestanden (%.1f MB), auditkop %d:%s",
		m.Moment.Format("2006-01-02 15:04:05 MST"), m.Records, m.Files, float64(m.Bytes)/(1<<20), m.AuditSeq, m.AuditHash)
	if len(m.Missing) > 0 {
		s += fmt.Sprintf("\nlet op: %d bestanden ontbraken of waren beschadigd in de opslag en zitten niet in de backup (zie 'ontbrekend' in manifest.json en het log)", len(m.Missing))
	}
	if !m.BasisMoment.IsZero() {
		s += fmt.Sprintf("\naanvulling op de backup van %s: %d bestanden daaruit niet opnieuw gekopieerd; bewaar die backup bij deze", m.BasisMoment.Format("2006-01-02 15:04:05 MST"), len(m.Basis))
	}
	if m.Pending > 0 {
		s += fmt.Sprintf("\n%d bestanden in aanleveren/ die nog geen aanlevering waren (onderweg of onderbroken) zitten niet in de backup", m.Pending)
	}
	return s
}

// backupStall is how long a backup's reader may take nothing before the backup stops.
const backupStall = 5 * time.Minute

// stallWriter remembers when it last wrote.
type stallWriter struct {
	w    io.Writer
	last atomic.Int64
}

func (s *stallWriter) touch() { s.last.Store(time.Now().UnixNano()) }

func (s *stallWriter) Write(p []byte) (int, error) {
	n, err := s.w.Write(p)
	s.touch()
	return n, err
}

// watch calls cut once when nothing was written for limit, until stop closes.
func (s *stallWriter) watch(stop <-chan struct{}, limit time.Duration, cut func()) {
	t := time.NewTicker(max(limit/10, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if time.Since(time.Unix(0, s.last.Load())) >= limit {
				cut()
				return
			}
		}
	}
}
