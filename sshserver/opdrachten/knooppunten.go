package opdrachten

import (
	"bytes"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"knooppunt/exchange"
	"knooppunt/exchange/tijdzone"
)

// nodesCommands show the beheerder which nodes share the hub's store and whether each still
// beats; exchange refuses everyone else (exit 3).
var nodesCommands = []command{
	{
		words: []string{"nodes"}, maxArgs: 0,
		help: "de knooppunten (processen) die deze hub samen vormen, met hun laatste hartslag (beheerder)",
		run:  runNodes,
	},
}

func runNodes(c *cmdCtx, in *input) error {
	nodes, err := c.hub.Nodes(c.p)
	if err != nil {
		return err
	}
	now := c.hub.Now()
	return c.emit(nodes, func(w io.Writer) { fmt.Fprint(w, NodesText(nodes, now)) })
}

// NodesText is the nodes as a table for a person, for ssh and for the CLI.
func NodesText(nodes []exchange.NodeInfo, now time.Time) string {
	if len(nodes) == 0 {
		return "geen knooppunten met een hartslag in deze database\n"
	}
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KNOOPPUNT\tHOST\tPID\tGESTART\tLAATSTE HARTSLAG\tSTAAT")
	for _, n := range nodes {
		state := "actief"
		if !n.Reachable {
			state = "niet bereikbaar"
		}
		if n.Self {
			state += " (dit knooppunt)"
		}
		ago := now.Sub(n.LastBeat).Round(time.Second)
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s (%s geleden)\t%s\n", exchange.Printable(n.Name), exchange.Printable(n.Host), n.Pid,
			n.Started.In(tijdzone.Amsterdam()).Format("02-01-2006 15:04:05"), n.LastBeat.In(tijdzone.Amsterdam()).Format("15:04:05"), max(ago, 0), state)
	}
	tw.Flush()
	return b.String()
}
