"""Canvas's authentication and not-found answers, to the letter, as the tests expect them
(written out here rather than imported from the code under test)."""

UNAUTHENTICATED = {
    "status": "unauthenticated",
    "errors": [{"message": "user authorization required"}],
}
INVALID_TOKEN = {"errors": [{"message": "Invalid access token."}]}
UNAUTHORIZED = {
    "status": "unauthorized",
    "errors": [{"message": "user not authorized to perform that action"}],
}
NOT_FOUND = {"errors": [{"message": "The specified resource does not exist."}]}
WWW_AUTHENTICATE = 'Bearer realm="canvas-lms"'
