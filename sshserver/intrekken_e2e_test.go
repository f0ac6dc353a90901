package sshserver

import (
	"bufio"
	"errors"
	"io"
	"io/fs"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pkg/sftp"
	gossh "golang.org/x/crypto/ssh"

	"knooppunt/exchange"
)

// The regressions of issue 11: a product or role taken away, or an account disabled, while a
// session is open. Before, the session kept the powers of its login: it listed
// /iwmo/ophalen, downloaded and deleted a delivery and read the verslagen after the beheerder
// had revoked iwmo.

// dialAs opens one SSH connection as a demo account.
func dialAs(t testing.TB, th *testHub, account string) *gossh.Client {
	t.Helper()
	cfg := &gossh.ClientConfig{User: account, Auth: []gossh.AuthMethod{gossh.PublicKeys(demoSigner(t, th, account))},
		HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: 20 * time.Second}
	c, err := gossh.Dial("tcp", th.addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func wantPermissionDenied(t testing.TB, what string, err error) {
	t.Helper()
	if !errors.Is(err, fs.ErrPermission) {
		t.Errorf("%s after the revoke: %v, want permission denied", what, err)
	}
}

func TestRevokedProductStopsOpenSFTPSession(t *testing.T) {
	th := startHub(t, withEngine)
	d := deliver(t, th)
	c, err := sftp.NewClient(dialAs(t, th, "aanbieder"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if fs, err := c.ReadDir("/iwmo/ophalen"); err != nil || len(fs) != 2 { // the file and nieuw/
		t.Fatalf("before the revoke: %v, %v", fs, err)
	}
	if fs, err := c.ReadDir("/iwmo/verslagen"); err != nil {
		t.Fatalf("verslagen before the revoke: %v, %v", fs, err)
	}

	if err := th.hub.Revoke(th.principal(t, "beheer"), "aanbieder", exchange.IWmo); err != nil {
		t.Fatal(err)
	}
	_, err = c.ReadDir("/iwmo/ophalen")
	wantPermissionDenied(t, "listing /iwmo/ophalen", err)
	_, err = c.ReadDir("/iwmo/verslagen")
	wantPermissionDenied(t, "listing /iwmo/verslagen", err)
	_, err = c.Open("/iwmo/ophalen/" + d.Name)
	wantPermissionDenied(t, "downloading the delivery", err)
	wantPermissionDenied(t, "deleting the delivery", c.Remove("/iwmo/ophalen/"+d.Name))
	_, err = c.Stat("/iwmo")
	wantPermissionDenied(t, "stat /iwmo", err)
	root, err := c.ReadDir("/")
	if err != nil || len(root) != 1 || root[0].Name() != "ijw" {
		t.Errorf("/ after the revoke lists %v (%v), want only ijw", root, err)
	}
	// The file is still there, unread, for whoever has iwmo.
	if err := th.hub.Grant(th.principal(t, "beheer"), "aanbieder", exchange.IWmo); err != nil {
		t.Fatal(err)
	}
	ds := th.inbox(t, "aanbieder", exchange.IWmo, false)
	if len(ds) != 1 || ds[0].Name != d.Name || !ds[0].GelezenAt.IsZero() {
		t.Errorf("ophalen after the revoke = %+v, want %s untouched", ds, d.Name)
	}
}

// TestDisabledAccountConnectionsAreClosed: the case with OpenSSH's sftp in batch mode,
// fed through a pipe so that the session stays open: after the beheerder revokes iwmo and
// disables the account, its connection is closed, and nothing more is listed, downloaded or
// deleted. A second connection of the same account (a plain session) closes too.
func TestDisabledAccountConnectionsAreClosed(t *testing.T) {
	needOpenSSH(t)
	th := startHub(t, withEngine)
	d := deliver(t, th)
	other := dialAs(t, th, "aanbieder")
	sess, err := other.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	otherDone := make(chan error, 1)
	go func() { otherDone <- other.Wait() }()

	cmd := th.sftpCmd("aanbieder", th.keys["aanbieder"], "")
	cmd.Stdin = nil
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := make(chan string, 100)
	go func() {
		s := bufio.NewScanner(pr)
		for s.Scan() {
			lines <- s.Text()
		}
		close(lines)
	}()
	waitLine := func(want string) {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("sftp ended before %q", want)
				}
				if strings.Contains(l, want) {
					return
				}
			case <-deadline:
				t.Fatalf("sftp did not print %q", want)
			}
		}
	}
	io.WriteString(stdin, "ls -1 /iwmo/ophalen\n")
	waitLine(d.Name)

	beheer := th.principal(t, "beheer")
	if err := th.hub.Revoke(beheer, "aanbieder", exchange.IWmo); err != nil {
		t.Fatal(err)
	}
	if err := th.hub.SetDisabled(beheer, "aanbieder", true); err != nil {
		t.Fatal(err)
	}
	local := t.TempDir() + "/x.zip"
	io.WriteString(stdin, "ls -1 /iwmo/ophalen\nget /iwmo/ophalen/"+d.Name+" "+local+"\nrm /iwmo/ophalen/"+d.Name+"\nls -1 /iwmo/verslagen\n")
	stdin.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait(); pw.Close() }()
	select {
	case err := <-done:
		if err == nil {
			t.Error("sftp ended cleanly: the connection of a disabled account stayed open")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("sftp of a disabled account still runs")
	}
	for l := range lines {
		if strings.Contains(l, d.Name) {
			t.Errorf("after the disable sftp printed %q", l)
		}
	}
	if _, err := os.Stat(local); err == nil {
		t.Error("the delivery was downloaded after the disable")
	}
	select {
	case <-otherDone:
	case <-time.After(10 * time.Second):
		t.Error("the account's other connection stayed open")
	}
	sess.Close()
	if err := th.hub.SetDisabled(beheer, "aanbieder", false); err != nil {
		t.Fatal(err)
	}
	if err := th.hub.Grant(beheer, "aanbieder", exchange.IWmo); err != nil {
		t.Fatal(err)
	}
	ds := th.inbox(t, "aanbieder", exchange.IWmo, false)
	if len(ds) != 1 || !ds[0].GelezenAt.IsZero() {
		t.Errorf("ophalen after the disable = %+v, want %s untouched", ds, d.Name)
	}
	assertAudited(t, th.hub, "beheer", "account disable", "aanbieder", "ok")
}

// TestRevokedRoleStopsOpenCommandSession: commands on a connection that stays open (as with
// OpenSSH's ControlMaster) are decided on the account as it is at each command.
func TestRevokedRoleStopsOpenCommandSession(t *testing.T) {
	th := startHub(t)
	c := dialAs(t, th, "gemeente")
	run := func(cmd string) (string, int) {
		t.Helper()
		s, err := c.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		out, err := s.CombinedOutput(cmd)
		var ee *gossh.ExitError
		switch {
		case errors.As(err, &ee):
			return string(out), ee.ExitStatus()
		case err != nil:
			t.Fatalf("%s: %v", cmd, err)
		}
		return string(out), 0
	}
	if out, code := run("org list"); code != 0 || !strings.Contains(out, "9999") {
		t.Fatalf("org list before: %d %s", code, out)
	}
	if out, code := run("route zet 'WMO 301/302' --product iwmo --via portaal --status inactief"); code != 0 {
		t.Fatalf("route before: %d %s", code, out)
	}
	beheer := th.principal(t, "beheer")
	if err := th.hub.ChangeRoles(beheer, "gemeente", nil, []exchange.Role{exchange.Gebruikersbeheerder, exchange.Productbeheerder}); err != nil {
		t.Fatal(err)
	}
	if out, code := run("org list"); code != exitDenied {
		t.Errorf("org list after the role was taken: exit %d, want %d: %s", code, exitDenied, out)
	}
	if out, code := run("route zet 'WMO 301/302' --product iwmo --via portaal --status actief"); code != exitDenied {
		t.Errorf("route after the role was taken: exit %d, want %d: %s", code, exitDenied, out)
	}
	if err := th.hub.Revoke(beheer, "gemeente", exchange.IWmo); err != nil {
		t.Fatal(err)
	}
	if out, code := run("ophalen --product iwmo"); code != exitDenied {
		t.Errorf("ophalen after iwmo was revoked: exit %d, want %d: %s", code, exitDenied, out)
	}
}
