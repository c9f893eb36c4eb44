// Command mint prints an HS256 access token, for trying out
// examples/everything with -jwt-secret. Real deployments get tokens from
// their identity provider.
//
//	go -C examples run ./mint -secret S -aud http://127.0.0.1:8080/mcp -sub ada -scope "mcp"
package main

import (
	"flag"
	"fmt"
	"log"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

func main() {
	secret := flag.String("secret", "", "HS256 secret, as given to the server's -jwt-secret")
	aud := flag.String("aud", "http://127.0.0.1:8080/mcp", "audience: the server's -audience")
	sub := flag.String("sub", "ada", "subject")
	iss := flag.String("iss", "", "issuer, if the server checks one")
	scope := flag.String("scope", "", "space-separated scopes")
	ttl := flag.Duration("ttl", time.Hour, "lifetime")
	flag.Parse()
	if *secret == "" {
		log.Fatal("-secret is required")
	}
	b := jwt.NewBuilder().Subject(*sub).Audience([]string{*aud}).IssuedAt(time.Now()).Expiration(time.Now().Add(*ttl))
	if *iss != "" {
		b = b.Issuer(*iss)
	}
	if *scope != "" {
		b = b.Claim("scope", *scope)
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
