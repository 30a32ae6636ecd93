package audit

import (
	"go/ast"
	"go/parser"
	"go/token"
	"slices"
	"strconv"
	"testing"
)

// Every Decision constant of record.go is in Decisions, the list `make
// audit -decision` accepts: a decision missing there cannot be filtered on
// (the runbook's `-decision ptc-validation-failed` was refused as "not a
// decision").
func TestDecisionsListsEveryDecision(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "record.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var declared []Decision
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok || vs.Type == nil {
			return true
		}
		if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Decision" {
			return true
		}
		for _, v := range vs.Values {
			if lit, ok := v.(*ast.BasicLit); ok {
				s, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatal(err)
				}
				declared = append(declared, Decision(s))
			}
		}
		return true
	})
	if len(declared) < 10 {
		t.Fatalf("found only %d Decision constants in record.go: %v", len(declared), declared)
	}
	for _, d := range declared {
		if !slices.Contains(Decisions, d) {
			t.Errorf("decision %q is declared but not in Decisions", d)
		}
	}
	if len(Decisions) != len(declared) {
		t.Errorf("Decisions has %d entries, record.go declares %d", len(Decisions), len(declared))
	}
}
