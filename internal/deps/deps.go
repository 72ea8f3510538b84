//go:build deps

// Package deps pins the module's dependencies while the packages that use
// them are being written; it is never built.
package deps

import (
	_ "github.com/boombuler/barcode/qr"
	_ "github.com/creack/pty"
	_ "github.com/google/go-cmp/cmp"
	_ "github.com/gorilla/websocket"
	_ "github.com/pquerna/otp/totp"
	_ "go.uber.org/zap"
	_ "golang.org/x/crypto/argon2"
	_ "golang.org/x/term"
	_ "k8s.io/apimachinery/pkg/apis/meta/v1"
	_ "k8s.io/apimachinery/pkg/util/validation/field"
	_ "k8s.io/apiserver/pkg/endpoints/request"
	_ "k8s.io/client-go/kubernetes"
	_ "k8s.io/client-go/pkg/apis/clientauthentication/v1"
	_ "k8s.io/client-go/rest"
	_ "k8s.io/client-go/tools/clientcmd"
	_ "k8s.io/client-go/tools/remotecommand"
	_ "k8s.io/client-go/transport"
	_ "modernc.org/sqlite"
	_ "sigs.k8s.io/yaml"
)
