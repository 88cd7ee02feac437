-- Random GETs from one list of paths in the data file, optionally as the admin.
dofile("__DATA__")
local paths = __LIST__
local headers = {}
if __AS_ADMIN__ then headers["Authorization"] = "Bearer " .. admin_token end

function request()
  return wrk.format("GET", paths[math.random(#paths)], headers)
end
