//go:build !standard

package secrets

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"

	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"github.com/googleapis/gax-go/v2/apierror"
	"google.golang.org/api/option"
)

// fetchGCP reads GCP_SECRET_NAME (projects/P/secrets/S/versions/V) from
// Secret Manager over its REST API with Application Default Credentials:
// GKE workload identity through the metadata server, or the key file
// GOOGLE_APPLICATION_CREDENTIALS names. GCP_SECRETMANAGER_ENDPOINT
// replaces the public endpoint (Private Service Connect, tests).
func fetchGCP(ctx context.Context, getenv func(string) string) ([]byte, error) {
	name := getenv("GCP_SECRET_NAME")
	if name == "" {
		return nil, errors.New("GCP_SECRET_NAME is not set")
	}
	if f := strings.Split(name, "/"); len(f) != 6 || f[0] != "projects" || f[2] != "secrets" || f[4] != "versions" {
		return nil, errors.New("GCP_SECRET_NAME is not of the form projects/PROJECT/secrets/SECRET/versions/VERSION")
	}
	var opts []option.ClientOption
	if ep := getenv("GCP_SECRETMANAGER_ENDPOINT"); ep != "" {
		opts = append(opts, option.WithEndpoint(ep))
	}
	client, err := secretmanager.NewRESTClient(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("creating the Secret Manager client: %w", err)
	}
	defer client.Close()
	resp, err := client.AccessSecretVersion(ctx, &secretmanagerpb.AccessSecretVersionRequest{Name: name})
	if err != nil {
		var ae *apierror.APIError
		if errors.As(err, &ae) {
			return nil, fmt.Errorf("the Secret Manager API answered %d %s", ae.HTTPCode(), ae.Reason())
		}
		return nil, fmt.Errorf("calling Secret Manager: %w", err)
	}
	data := resp.GetPayload().GetData()
	// The checksum is Secret Manager's own integrity check of the payload.
	if sum := resp.GetPayload().DataCrc32C; sum != nil && int64(crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli))) != *sum {
		return nil, errors.New("the payload from Secret Manager does not match its CRC32C")
	}
	return data, nil
}
