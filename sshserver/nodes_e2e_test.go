package sshserver

import (
	"encoding/json"
	"strings"
	"testing"

	"knooppunt/exchange"
)

// ssh beheer@hub nodes lists the hub itself (the only node on Badger) with its heartbeat, as
// a table and as JSON; anyone else is refused.
func TestNodesCommandOverSSH(t *testing.T) {
	needOpenSSH(t)
	th := startHub(t, withEngine) // the engine writes the heartbeat
	beheer := th.keys["beheer"]
	var nodes []exchange.NodeInfo
	for range 100 {
		out, errOut, code := th.ssh("beheer", beheer, "nodes", "--json")
		if code != exitOK {
			t.Fatalf("nodes --json: exit %d\n%s%s", code, out, errOut)
		}
		if err := json.Unmarshal([]byte(out), &nodes); err != nil {
			t.Fatalf("nodes --json: %v\n%s", err, out)
		}
		if len(nodes) == 1 {
			break // the first heartbeat is written when the engine starts
		}
	}
	if len(nodes) != 1 || !nodes[0].Self || !nodes[0].Reachable || nodes[0].Name == "" {
		t.Fatalf("nodes: %+v", nodes)
	}
	out, errOut, code := th.ssh("beheer", beheer, "nodes")
	if code != exitOK || !strings.Contains(out, "LAATSTE HARTSLAG") || !strings.Contains(out, nodes[0].Name) ||
		!strings.Contains(out, "actief (dit knooppunt)") {
		t.Fatalf("nodes: exit %d\n%s%s", code, out, errOut)
	}
	for _, acct := range []string{"gemeente", "ameland"} {
		out, errOut, code := th.ssh(acct, th.keys[acct], "nodes")
		if code != exitDenied || out != "" || !strings.Contains(errOut, "beheerder") {
			t.Errorf("%s nodes: exit %d, stdout %q, stderr %q", acct, code, out, errOut)
		}
	}
}
