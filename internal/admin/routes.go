package admin

import (
	_ "embed"
	"net/http"

	"github.com/portcullis/portcullis/internal/store"
)

// openAPIDoc is the API's OpenAPI 3.1 description; TestOpenAPIMatchesRoutes
// keeps it and the table below the same, and the API tests validate every
// answer against its schemas.
//
//go:embed openapi.json
var openAPIDoc []byte

// table is every endpoint with the least role that may call it.
func (s *Server) table() []route {
	v, o, a := store.RoleViewer, store.RoleOperator, store.RoleAdmin
	return []route{
		{"GET", "/admin/openapi.json", v, s.openAPI},
		{"GET", "/admin/status", v, s.status},
		{"GET", "/admin/consumers", v, s.listConsumers},
		{"POST", "/admin/consumers", o, s.createConsumer},
		{"GET", "/admin/consumers/{name}", v, s.getConsumer},
		{"PUT", "/admin/consumers/{name}", o, s.updateConsumer},
		{"DELETE", "/admin/consumers/{name}", o, s.deleteConsumer},
		{"GET", "/admin/consumers/{name}/credentials", v, s.listCredentials},
		{"POST", "/admin/consumers/{name}/credentials", o, s.createCredential},
		{"GET", "/admin/consumers/{name}/credentials/{id}", v, s.getCredential},
		{"DELETE", "/admin/consumers/{name}/credentials/{id}", o, s.deleteCredential},
		{"POST", "/admin/consumers/{name}/credentials/{id}/rotate", o, s.rotateCredential},
		{"GET", "/admin/bans", v, s.listBans},
		{"POST", "/admin/bans", o, s.createBan},
		{"DELETE", "/admin/bans/{address}", o, s.deleteBan},
		{"GET", "/admin/usage/keys", v, s.keyUsage},
		{"GET", "/admin/usage/consumers", v, s.consumerUsage},
		{"GET", "/admin/routes", v, s.routesView},
		{"GET", "/admin/services", v, s.servicesView},
		{"POST", "/admin/reload", o, s.reload},
		{"GET", "/admin/secrets", v, s.listSecrets},
		{"POST", "/admin/secrets", a, s.createSecret},
		{"GET", "/admin/secrets/{name}", v, s.getSecret},
		{"PUT", "/admin/secrets/{name}", a, s.updateSecret},
		{"DELETE", "/admin/secrets/{name}", a, s.deleteSecret},
		{"GET", "/admin/tokens", a, s.listTokens},
		{"POST", "/admin/tokens", a, s.createToken},
		{"DELETE", "/admin/tokens/{id}", a, s.deleteToken},
		{"POST", "/admin/rekey", a, s.rekey},
		{"GET", "/admin/audit", v, s.listAudit},
		{"GET", "/admin/config/versions", v, s.listConfigVersions},
		{"GET", "/admin/config/versions/{version}", v, s.getConfigVersion},
		{"GET", "/admin/config/diff", v, s.diffConfigVersions},
		{"POST", "/admin/config/dry-run", o, s.dryRun},
		{"POST", "/admin/config/versions/{version}/rollback", a, s.rollback},
		{"GET", "/admin/users", a, s.listUsers},
		{"POST", "/admin/users", a, s.createUser},
		{"GET", "/admin/users/{name}", a, s.getUser},
		{"PUT", "/admin/users/{name}", a, s.updateUser},
		{"DELETE", "/admin/users/{name}", a, s.deleteUser},
		{"POST", "/admin/users/{name}/totp", a, s.enrolUser},
		{"POST", "/admin/login", "", s.login},
		{"POST", "/admin/logout", v, s.logout},
		{"GET", "/admin/session", v, s.whoami},
	}
}

func (s *Server) openAPI(q *request) (int, any) {
	q.w.Header().Set("Content-Type", "application/json")
	q.w.WriteHeader(http.StatusOK)
	_, _ = q.w.Write(openAPIDoc)
	return http.StatusOK, skipBody{}
}

// skipBody tells wrap that the handler wrote the answer itself.
type skipBody struct{}
