// Renders the contract the gateway serves; "Authorize" takes an access token.
window.addEventListener("load", () => {
  window.SwaggerUIBundle({
    url: "/api/openapi.json",
    dom_id: "#reference",
    deepLinking: true,
    persistAuthorization: false,
    tryItOutEnabled: false,
  });
});
