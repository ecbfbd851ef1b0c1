package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// logMethods are the log/slog calls whose arguments after the message are
// key-value pairs (or attributes built from them).
var logMethods = map[string]int{
	// name: index of the first argument after the message
	"Debug": 1, "Info": 1, "Warn": 1, "Error": 1,
	"DebugContext": 2, "InfoContext": 2, "WarnContext": 2, "ErrorContext": 2,
	"Log": 3, "With": 0, "String": 0, "Any": 0,
}

// TestLogErrorKey: the log key for an error is "err", everywhere, so one
// query finds every failure in the logs. It reads every non-test Go file
// of the repository and fails on a log call (or slog attribute) whose key
// is "error".
func TestLogErrorKey(t *testing.T) {
	root := filepath.Join("..", "..")
	fset := token.NewFileSet()
	files := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "node_modules" || name == "testdata" || name == "var") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		files++
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			first, ok := logMethods[sel.Sel.Name]
			if !ok || len(call.Args) <= first {
				return true
			}
			if (sel.Sel.Name == "String" || sel.Sel.Name == "Any") && !isIdent(sel.X, "slog") {
				return true
			}
			for _, a := range call.Args[first:] {
				ast.Inspect(a, func(n ast.Node) bool {
					if _, nested := n.(*ast.CompositeLit); nested {
						return false // a map or struct literal, not log keys
					}
					if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
						if s, _ := strconv.Unquote(lit.Value); s == "error" {
							t.Errorf("%s: log key \"error\": use \"err\"", fset.Position(lit.Pos()))
						}
					}
					return true
				})
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 100 {
		t.Fatalf("read only %d files; the walk is broken", files)
	}
}

func isIdent(e ast.Expr, name string) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == name
}
