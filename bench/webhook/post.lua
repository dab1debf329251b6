-- wrk's request: POST /mutate with the AdmissionReview in review.json (path in REVIEW).
local path = os.getenv("REVIEW") or "review.json"
local file = assert(io.open(path, "rb"))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "application/json"
wrk.path = "/mutate?timeout=2s"
