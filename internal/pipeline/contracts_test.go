package pipeline

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// policyPackages hold the policy kinds (each registers with Register).
var policyPackages = []string{"auth", "authz", "concurrency", "ipfilter", "openapi", "ratelimit", "response", "transform", "validate", "waf"}

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
	for _, pkg := range policyPackages {
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
