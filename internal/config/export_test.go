package config

import (
	"reflect"
	"testing"
)

// What the external test package (policy_contracts_test.go, which imports
// every policy kind and so cannot live in package config) uses.

// SchemaWalk is schemaWalk for the policy kinds' config types.
func SchemaWalk(t *testing.T, resolve func(map[string]any) map[string]any, path string, typ reflect.Type, s map[string]any) {
	schemaWalk(t, resolve, map[reflect.Type]bool{}, path, typ, s, true)
}

// YAMLFields lists typ's yaml field names and each field's type.
func YAMLFields(typ reflect.Type) (names []string, types map[string]reflect.Type) {
	f := fieldsOf(typ)
	types = map[string]reflect.Type{}
	for _, n := range f.names {
		types[n] = typ.FieldByIndex(f.byName[n]).Type
	}
	return f.names, types
}
