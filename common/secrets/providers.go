//go:build !standard

package secrets

// providers are the secrets managers of the enterprise build; the
// standard build has none.
var providers = map[string]provider{
	"vault": {fetchVault, func(g func(string) string) string { return "VAULT_SECRET_PATH=" + g("VAULT_SECRET_PATH") }},
	"aws":   {fetchAWS, func(g func(string) string) string { return "AWS_SECRET_ARN=" + g("AWS_SECRET_ARN") }},
	"azure": {fetchAzure, func(g func(string) string) string { return "AZURE_SECRET_NAME=" + azureSecretName(g) }},
	"gcp":   {fetchGCP, func(g func(string) string) string { return "GCP_SECRET_NAME=" + g("GCP_SECRET_NAME") }},
}
