package golden

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const importPath = "github.com/ecr-warden/ecr-warden/shared/devtools/golden"

// TestEveryTestPackageDefinesUpdate keeps `go test ./... -update` working as packages are added:
// a test package that does not import this package (a blank import is enough) makes that
// command fail with "flag provided but not defined: -update".
func TestEveryTestPackageDefinesUpdate(t *testing.T) {
	// go test puts $GOROOT/bin first on PATH, so this is the go that runs the tests; the
	// working directory is this package's, three levels below the module root.
	cmd := exec.Command("go", "list", "-f", "{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}} {{join .TestImports \" \"}} {{join .XTestImports \" \"}}{{end}}", "./...")
	cmd.Dir = "../../.."
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("listing the module's test packages (go list ./...): %v\n%s", err, out)
	}
	var checked int
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		checked++
		if fields[0] == importPath {
			continue
		}
		if !slices.Contains(fields[1:], importPath) {
			t.Errorf("%s: no _test.go file imports %s, so `go test ./... -update` fails there with "+
				"\"flag provided but not defined: -update\"; add `_ \"%s\"` to one of its _test.go files",
				fields[0], importPath, importPath)
		}
	}
	if checked < 2 {
		t.Fatalf("go list found %d test packages; want the whole module:\n%s", checked, out)
	}
}
