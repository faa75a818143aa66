// promql-check parses PromQL expressions with Prometheus's own parser, so that the alert
// rules of the PrometheusRule component are proven to be valid queries.
//
// Input on stdin: a JSON array of {"name": "...", "expr": "..."}. Prints one line per
// expression that does not parse and exits 1 if there is any; exits 2 on bad input.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/prometheus/prometheus/promql/parser"
)

type rule struct {
	Name string `json:"name"`
	Expr string `json:"expr"`
}

func main() {
	var rules []rule
	if err := json.NewDecoder(os.Stdin).Decode(&rules); err != nil {
		fmt.Fprintln(os.Stderr, "promql-check: bad input:", err)
		os.Exit(2)
	}
	if len(rules) == 0 {
		fmt.Fprintln(os.Stderr, "promql-check: no expressions given")
		os.Exit(2)
	}
	bad := 0
	for _, r := range rules {
		expr, err := parser.ParseExpr(r.Expr)
		if err != nil {
			fmt.Printf("%s: %v\n", r.Name, err)
			bad++
			continue
		}
		// An alert fires on the series its expression returns: it must be a vector.
		if t := expr.Type(); t != parser.ValueTypeVector {
			fmt.Printf("%s: the expression is a %s, an alert needs an instant vector\n", r.Name, t)
			bad++
		}
	}
	if bad > 0 {
		os.Exit(1)
	}
}
