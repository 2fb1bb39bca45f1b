//go:build !standard

package secrets

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
)

// testTransport lets the package tests trust their TLS fakes of Key Vault
// and Entra ID (the SDKs refuse to send tokens over plain HTTP); nil, the
// SDKs' own transport, everywhere else.
var testTransport *http.Client

const defaultAzureSecretName = "meshoptixiq"

func azureSecretName(getenv func(string) string) string {
	if n := getenv("AZURE_SECRET_NAME"); n != "" {
		return n
	}
	return defaultAzureSecretName
}

// fetchAzure reads the latest version of AZURE_SECRET_NAME from the Key
// Vault at AZURE_KEYVAULT_URL with azidentity's default credential chain
// (environment client secret or certificate, AKS workload identity,
// managed identity; AZURE_TOKEN_CREDENTIALS narrows it).
func fetchAzure(ctx context.Context, getenv func(string) string) ([]byte, error) {
	vaultURL := getenv("AZURE_KEYVAULT_URL")
	if vaultURL == "" {
		return nil, errors.New("AZURE_KEYVAULT_URL is not set")
	}
	var client policy.ClientOptions
	if testTransport != nil {
		client.Transport = testTransport
	}
	cred, err := azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{ClientOptions: client})
	if err != nil {
		return nil, fmt.Errorf("setting up the Azure credentials: %w", err)
	}
	kv, err := azsecrets.NewClient(vaultURL, cred, &azsecrets.ClientOptions{ClientOptions: client})
	if err != nil {
		return nil, fmt.Errorf("AZURE_KEYVAULT_URL=%s: %w", vaultURL, err)
	}
	resp, err := kv.GetSecret(ctx, azureSecretName(getenv), "", nil)
	if err != nil {
		var re *azcore.ResponseError
		if errors.As(err, &re) {
			return nil, fmt.Errorf("the Key Vault at %s answered %d %s", vaultURL, re.StatusCode, re.ErrorCode)
		}
		var ae *azidentity.AuthenticationFailedError
		if errors.As(err, &ae) {
			return nil, fmt.Errorf("authentication for the Key Vault at %s failed", vaultURL)
		}
		return nil, fmt.Errorf("calling the Key Vault at %s: %w", vaultURL, err)
	}
	if resp.Value == nil {
		return nil, fmt.Errorf("the Key Vault at %s returned the secret without a value", vaultURL)
	}
	return []byte(*resp.Value), nil
}
