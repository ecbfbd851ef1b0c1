package apierror

import (
	"flag"
	"go/ast"
	gotoken "go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/scribegate/scribegate/gateway/internal/sourcetest"
)

var updateREADME = flag.Bool("update-readme", false, "rewrite the README's error tables from Codes")

const (
	errorTablesBegin = "<!-- error tables: generated from apierror.Codes; go test ./gateway/apierror -run TestREADMEErrorTables -update-readme -->\n"
	errorTablesEnd   = "<!-- end of error tables -->\n"
)

// TestREADMEErrorTables: the README's error tables are Codes rendered,
// so the code's table is the one source (-update-readme rewrites them).
func TestREADMEErrorTables(t *testing.T) {
	path := filepath.Join("..", "..", "README.md")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	i := strings.Index(readme, errorTablesBegin)
	j := strings.Index(readme, errorTablesEnd)
	if i < 0 || j < i {
		t.Fatalf("README.md has no %q … %q block", errorTablesBegin, errorTablesEnd)
	}
	i += len(errorTablesBegin)
	want := Tables()
	if readme[i:j] == want {
		return
	}
	if *updateREADME {
		if err := os.WriteFile(path, []byte(readme[:i]+want+readme[j:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("README.md's error tables differ from Codes; run go test ./gateway/apierror -run TestREADMEErrorTables -update-readme\n got:\n%s\nwant:\n%s", readme[i:j], want)
}

// TestErrorCodesComplete: every Code constant of the package is documented
// in Codes, and Codes lists no code twice for one status.
func TestErrorCodesComplete(t *testing.T) {
	listed := map[string]bool{}
	seen := map[string]bool{}
	for _, e := range Codes() {
		listed[e.Code] = true
		k := strconv.Itoa(e.Status) + " " + e.Code
		if seen[k] {
			t.Errorf("Codes lists %s twice", k)
		}
		seen[k] = true
		if e.Meaning == "" {
			t.Errorf("%s has no meaning", k)
		}
	}
	fset := gotoken.NewFileSet()
	n := 0
	for _, f := range sourcetest.Parse(t, fset) {
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != gotoken.CONST {
				continue
			}
			for _, s := range g.Specs {
				vs := s.(*ast.ValueSpec)
				for k, id := range vs.Names {
					if !strings.HasPrefix(id.Name, "Code") || k >= len(vs.Values) {
						continue
					}
					lit, ok := vs.Values[k].(*ast.BasicLit)
					if !ok || lit.Kind != gotoken.STRING {
						continue
					}
					code, _ := strconv.Unquote(lit.Value)
					n++
					if !listed[code] {
						t.Errorf("%s (%s, %s) is not in Codes", id.Name, code, fset.Position(id.Pos()))
					}
				}
			}
		}
	}
	if n < 30 {
		t.Errorf("found only %d Code constants; the scan is broken", n)
	}
}
