package sshserver

import (
	"testing"
	"time"

	"knooppunt/exchange/ebms"
)

// testCPA imports a CPA between the hub and org (which has its demo OIN) and returns its id.
func (th *testHub) testCPA(t *testing.T, org string) string {
	t.Helper()
	o, err := th.hub.Org(org)
	if err != nil || o.OIN == "" {
		t.Fatalf("organisatie %s zonder OIN: %v %+v", org, err, o)
	}
	doc, err := ebms.NewCPA(ebms.CPASpec{
		Hub:     ebms.PartySpec{OIN: th.hub.OIN(), Endpoint: "https://knooppunt.test/ebms"},
		Partner: ebms.PartySpec{OIN: o.OIN, Endpoint: "https://partner.test/ebms"},
		Start:   th.hub.Now().Add(-time.Hour).Truncate(time.Second),
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := th.hub.ImportCPA(nil, doc)
	if err != nil {
		t.Fatal(err)
	}
	return c.ID
}
