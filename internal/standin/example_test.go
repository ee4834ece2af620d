package standin_test

import (
	"fmt"
	"io"
	"net/http/httptest"

	"github.com/loopgate/loopgate/internal/standin"
)

// A Basic-mode stand-in with NanoMQ's default credentials.
func Example() {
	api := &standin.API{User: "admin", Password: "public"}
	srv := httptest.NewServer(api.Handler())
	defer srv.Close()

	resp, err := srv.Client().Get(srv.URL + "/api/v4/brokers") // no credentials
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.Status, string(body))
	fmt.Println(api.Accepted(), api.Refusals())
	// Output:
	// 401 Unauthorized {"code":104}
	// 0 map[104:1]
}
