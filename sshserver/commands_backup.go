package sshserver

import (
	"bufio"
	"context"
	"fmt"

	"charm.land/ssh"

	"knooppunt/exchange"
)

// backupCommands give the beheerder an online backup: the tar goes to stdout, byte for byte
// (no terminal: ssh without -t), streamed, so `ssh beheer@hub backup > hub.tar` works while
// the hub serves and processes. exchange refuses everyone else (exit 3).
var backupCommands = []command{
	{
		words: []string{"backup"}, maxArgs: 0,
		help: "schrijft een backup van één moment als tar naar stdout: ssh beheer@knooppunt backup > knooppunt.tar; terugzetten met 'knooppunt restore --from BESTAND --data NIEUWEMAP' (beheerder)",
		run:  runBackup,
	},
}

func runBackup(c *cmdCtx, _ *input) error {
	ctx := context.Background()
	if s, ok := c.out.(interface{ Context() ssh.Context }); ok {
		ctx = s.Context() // ends when the client goes away
	}
	if s, ok := c.out.(interface {
		Pty() (ssh.Pty, <-chan ssh.Window, bool)
	}); ok {
		if _, _, tty := s.Pty(); tty {
			return usagef("een backup is binair: vraag hem zonder terminal en stuur stdout naar een bestand, bijvoorbeeld: ssh beheer@knooppunt backup > knooppunt.tar")
		}
	}
	w := bufio.NewWriterSize(c.out, 256<<10)
	m, err := c.hub.Backup(ctx, c.p, w)
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
	if m.Pending > 0 {
		s += fmt.Sprintf("\n%d bestanden in aanleveren/ die nog geen aanlevering waren (onderweg of onderbroken) zitten niet in de backup", m.Pending)
	}
	return s
}
