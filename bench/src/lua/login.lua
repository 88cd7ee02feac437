-- Sign-ins of random demo customers.
dofile("__DATA__")
local headers = { ["Content-Type"] = "application/json" }

function request()
  local body = '{"email":"' .. emails[math.random(#emails)] .. '","password":"' .. password .. '"}'
  return wrk.format("POST", "/api/v1/auth/login", headers, body)
end

function response(status, headers, body)
  if status ~= 200 then failed = failed + 1 end
  if status == 503 then busy = busy + 1 end
end
