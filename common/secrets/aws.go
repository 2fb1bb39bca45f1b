//go:build !standard

package secrets

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"
)

// fetchAWS reads AWS_SECRET_ARN from Secrets Manager with the SDK's default
// credential chain (environment, web identity for IRSA, ECS/EC2 roles).
// The SDK itself honours AWS_ENDPOINT_URL and AWS_REGION; without a region
// the one in the ARN is used.
func fetchAWS(ctx context.Context, getenv func(string) string) ([]byte, error) {
	arn := getenv("AWS_SECRET_ARN")
	if arn == "" {
		return nil, errors.New("AWS_SECRET_ARN is not set")
	}
	var opts []func(*awsconfig.LoadOptions) error
	if getenv("AWS_REGION") == "" && getenv("AWS_DEFAULT_REGION") == "" {
		if r := arnRegion(arn); r != "" {
			opts = append(opts, awsconfig.WithRegion(r))
		}
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("loading the AWS configuration: %w", err)
	}
	out, err := secretsmanager.NewFromConfig(cfg).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
	if err != nil {
		var ae smithy.APIError
		if errors.As(err, &ae) {
			return nil, fmt.Errorf("refused by Secrets Manager: %s: %s", ae.ErrorCode(), ae.ErrorMessage())
		}
		return nil, fmt.Errorf("calling Secrets Manager: %w", err)
	}
	if out.SecretString != nil {
		return []byte(*out.SecretString), nil
	}
	return out.SecretBinary, nil
}

// arnRegion is the fourth field of arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME.
func arnRegion(arn string) string {
	f := strings.SplitN(arn, ":", 6)
	if len(f) == 6 && f[0] == "arn" && f[2] == "secretsmanager" {
		return f[3]
	}
	return ""
}
