package gateway

import (
	"bufio"
	"bytes"
	"go/ast"
	"go/importer"
	gotoken "go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/scribegate/scribegate/gateway/internal/sourcetest"
)

// sessionParts are the parts of package gateway a session is made of
// (session.go), each in its own files, from the top down: a part may refer
// to the parts below it and never to one above. (The connection to the
// client is its own package, clientconn, which the compiler keeps from
// referring back.)
var sessionParts = []struct {
	name  string
	files []string
}{
	{"session", []string{"session.go", "progress.go"}},
	{"drafting", []string{"drafting.go", "livedraft.go"}},
	{"transcript", []string{"transcript.go"}},
	{"persistence", []string{"audio.go"}},
}

// TestSessionPartsPointOneWay type-checks package gateway and lists every
// reference from one part's files to a name (type, field, method,
// function, constant) declared in another part's: each must point down
// sessionParts. The references it found are logged (go test -v), so that
// how the parts use each other can be read off.
func TestSessionPartsPointOneWay(t *testing.T) {
	rank := map[string]int{} // file → its part's place, top first
	for i, p := range sessionParts {
		for _, f := range p.files {
			if _, err := os.Stat(f); err != nil {
				t.Fatalf("part %s: %v", p.name, err)
			}
			rank[f] = i
		}
	}
	fset, files, info := checkPackage(t)

	type edge struct{ from, to int }
	refs := map[edge][]string{}
	for id, obj := range info.Uses {
		if obj.Pkg() == nil || obj.Pkg().Path() != "github.com/scribegate/scribegate/gateway" || !obj.Pos().IsValid() {
			continue
		}
		from, ok := rank[filepath.Base(fset.Position(id.Pos()).Filename)]
		if !ok {
			continue
		}
		to, ok := rank[filepath.Base(fset.Position(obj.Pos()).Filename)]
		if !ok || to == from {
			continue
		}
		e := edge{from, to}
		if !slices.Contains(refs[e], obj.Name()) {
			refs[e] = append(refs[e], obj.Name())
		}
	}
	if len(files) == 0 || len(refs) == 0 {
		t.Fatal("found no references between the parts: the check reads nothing")
	}
	for e, names := range refs {
		slices.Sort(names)
		line := sessionParts[e.from].name + " → " + sessionParts[e.to].name + ": " + strings.Join(names, ", ")
		if e.from > e.to {
			t.Errorf("a reference points up: %s", line)
			continue
		}
		t.Log(line)
	}
}

// checkPackage parses and type-checks package gateway's non-test files,
// importing its dependencies from the export data go list gives.
func checkPackage(t *testing.T) (*gotoken.FileSet, []*ast.File, *types.Info) {
	t.Helper()
	out, err := exec.Command("go", "list", "-export", "-deps", "-f", "{{.ImportPath}}\t{{.Export}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	exports := map[string]string{}
	for sc := bufio.NewScanner(bytes.NewReader(out)); sc.Scan(); {
		if path, file, ok := strings.Cut(sc.Text(), "\t"); ok && file != "" {
			exports[path] = file
		}
	}
	fset := gotoken.NewFileSet()
	imp := importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) {
		return os.Open(exports[path])
	})
	files := sourcetest.Parse(t, fset)
	info := &types.Info{Uses: map[*ast.Ident]types.Object{}}
	conf := types.Config{Importer: imp}
	if _, err := conf.Check("github.com/scribegate/scribegate/gateway", fset, files, info); err != nil {
		t.Fatalf("type-check gateway: %v", err)
	}
	return fset, files, info
}
