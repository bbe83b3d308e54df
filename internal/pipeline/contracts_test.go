package pipeline

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// modulePrefix is the import path of the module's internal packages.
const modulePrefix = "github.com/portcullis/portcullis/internal/"

// policyPackages returns the packages that hold the policy kinds, as
// directories under internal/: the imports of internal/gateway/policies.go,
// the one place that makes a kind known to the gateway. It fails the test
// when a package under internal/ calls pipeline.Register but is not
// imported there (its kinds would not exist, and this scan would skip
// them), or when an import there registers nothing.
func policyPackages(t *testing.T) []string {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, filepath.Join("..", "gateway", "policies.go"), nil, parser.ImportsOnly)
	if err != nil {
		t.Fatal(err)
	}
	imported := map[string]bool{}
	for _, imp := range f.Imports {
		path, err := strconv.Unquote(imp.Path.Value)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(path, modulePrefix) {
			t.Fatalf("policies.go imports %s, outside %s", path, modulePrefix)
		}
		imported[strings.TrimPrefix(path, modulePrefix)] = true
	}
	registering := map[string]bool{}
	err = filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == "testdata" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		file, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(file, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			if sel, ok := call.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Register" {
				if x, ok := sel.X.(*ast.Ident); ok && x.Name == "pipeline" {
					rel, _ := filepath.Rel("..", filepath.Dir(path))
					registering[filepath.ToSlash(rel)] = true
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for pkg := range registering {
		if !imported[pkg] {
			t.Errorf("internal/%s registers policy kinds but internal/gateway/policies.go does not import it", pkg)
		}
	}
	var pkgs []string
	for pkg := range imported {
		if !registering[pkg] {
			t.Errorf("internal/gateway/policies.go imports internal/%s, which registers no policy kind", pkg)
		}
		pkgs = append(pkgs, pkg)
	}
	sort.Strings(pkgs)
	if len(pkgs) == 0 {
		t.Fatal("no policy packages found in internal/gateway/policies.go")
	}
	return pkgs
}

// TestPolicyTypesCheckTheirInterfaces: every compiled policy type (one
// with the methods of RequestPolicy, ResponsePolicy or
// ResponseBodyFilter) declares, with `var _ pipeline.X = (*T)(nil)`, every
// interface of this package whose methods it has, optional ones included:
// so a method renamed or given another signature fails the build instead
// of silently taking the policy out of what the gateway asks of it (an
// OwnedHeaders that no longer matches HeaderOwner would stop the gateway
// from stripping a header).
func TestPolicyTypesCheckTheirInterfaces(t *testing.T) {
	ifaces := map[string][]string{}
	for _, typ := range []reflect.Type{
		reflect.TypeFor[RequestPolicy](), reflect.TypeFor[ResponsePolicy](), reflect.TypeFor[ResponseBodyFilter](),
		reflect.TypeFor[IdentityUser](), reflect.TypeFor[HeaderOwner](), reflect.TypeFor[HeaderReader](),
		reflect.TypeFor[Authenticator](), reflect.TypeFor[Finisher](),
	} {
		for i := range typ.NumMethod() {
			ifaces[typ.Name()] = append(ifaces[typ.Name()], typ.Method(i).Name)
		}
	}
	has := func(methods map[string]bool, iface string) bool {
		for _, m := range ifaces[iface] {
			if !methods[m] {
				return false
			}
		}
		return true
	}
	policies := 0
	for _, pkg := range policyPackages(t) {
		files, err := filepath.Glob(filepath.Join("..", pkg, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: no files (%v)", pkg, err)
		}
		methods := map[string]map[string]bool{}
		checked := map[string]map[string]bool{}
		fset := token.NewFileSet()
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			file, err := parser.ParseFile(fset, f, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range file.Decls {
				switch d := d.(type) {
				case *ast.FuncDecl:
					if d.Recv == nil || len(d.Recv.List) != 1 {
						continue
					}
					rt := d.Recv.List[0].Type
					if s, ok := rt.(*ast.StarExpr); ok {
						rt = s.X
					}
					if id, ok := rt.(*ast.Ident); ok {
						if methods[id.Name] == nil {
							methods[id.Name] = map[string]bool{}
						}
						methods[id.Name][d.Name.Name] = true
					}
				case *ast.GenDecl:
					for _, sp := range d.Specs {
						vs, ok := sp.(*ast.ValueSpec)
						if !ok || len(vs.Names) != 1 || vs.Names[0].Name != "_" || len(vs.Values) != 1 {
							continue
						}
						sel, ok := vs.Type.(*ast.SelectorExpr)
						if !ok {
							continue
						}
						if x, ok := sel.X.(*ast.Ident); !ok || x.Name != "pipeline" {
							continue
						}
						// (*T)(nil)
						call, ok := vs.Values[0].(*ast.CallExpr)
						if !ok {
							continue
						}
						fun := call.Fun
						if p, ok := fun.(*ast.ParenExpr); ok {
							fun = p.X
						}
						star, ok := fun.(*ast.StarExpr)
						if !ok {
							continue
						}
						if id, ok := star.X.(*ast.Ident); ok {
							if checked[id.Name] == nil {
								checked[id.Name] = map[string]bool{}
							}
							checked[id.Name][sel.Sel.Name] = true
						}
					}
				}
			}
		}
		var types []string
		for typ := range methods {
			types = append(types, typ)
		}
		sort.Strings(types)
		for _, typ := range types {
			ms := methods[typ]
			if !has(ms, "RequestPolicy") && !has(ms, "ResponsePolicy") && !has(ms, "ResponseBodyFilter") {
				continue
			}
			policies++
			for iface := range ifaces {
				if has(ms, iface) && !checked[typ][iface] {
					t.Errorf("%s.%s has the methods of pipeline.%s but no `var _ pipeline.%s = (*%s)(nil)`", pkg, typ, iface, iface, typ)
				}
			}
		}
	}
	if policies < 19 {
		t.Fatalf("found %d policy types; the scan is broken", policies)
	}
}
