// Command mint prints an HS256 access token, for trying out
// examples/everything with a shared secret. It reads the secret from
// JWT_SECRET, as the server does (a -secret flag shows in ps to every user
// of the machine). Real deployments get tokens from their identity
// provider.
//
//	JWT_SECRET=S go -C examples run ./mint -aud http://127.0.0.1:8080/mcp -sub ada -scope "mcp"
//
// -claim adds a claim of its own, such as the roles a policy decides on
// (docs/authorization.md): -claim roles=admin.
package main

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

func main() {
	secret := flag.String("secret", os.Getenv("JWT_SECRET"), "HS256 secret, as the server's; default $JWT_SECRET")
	aud := flag.String("aud", "http://127.0.0.1:8080/mcp", "audience: the server's -audience")
	sub := flag.String("sub", "ada", "subject")
	iss := flag.String("iss", "", "issuer, if the server checks one")
	scope := flag.String("scope", "", "space-separated scopes")
	ttl := flag.Duration("ttl", time.Hour, "lifetime")
	claims := map[string]string{}
	flag.Func("claim", "NAME=VALUE: a further claim, as a string (repeat for more), e.g. roles=admin; a policy reads space-separated values", func(s string) error {
		name, value, ok := strings.Cut(s, "=")
		switch {
		case !ok || name == "":
			return errors.New("want NAME=VALUE")
		case slices.Contains([]string{"sub", "aud", "iss", "scope", "exp", "iat"}, name):
			return fmt.Errorf("%s has a flag of its own", name)
		}
		claims[name] = value
		return nil
	})
	flag.Parse()
	if *secret == "" {
		log.Fatal("no secret: set JWT_SECRET (or -secret) to the server's")
	}
	b := jwt.NewBuilder().Subject(*sub).Audience([]string{*aud}).IssuedAt(time.Now()).Expiration(time.Now().Add(*ttl))
	if *iss != "" {
		b = b.Issuer(*iss)
	}
	if *scope != "" {
		b = b.Claim("scope", *scope)
	}
	for name, value := range claims {
		b = b.Claim(name, value)
	}
	tok, err := b.Build()
	if err != nil {
		log.Fatal(err)
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.HS256, []byte(*secret)))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(signed))
}
