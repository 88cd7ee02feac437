-- Shoppers: each wrk thread has one connection and one customer of its own, so its requests
-- run in order: add 1-3 products of different merchants to the cart, check out (cash on
-- delivery), repeat. With write_share < 1 (the mixed profile) the shopper browses between
-- orders: product pages, list pages, searches and category listings.
dofile("__DATA__")
local write_share = __WRITE_SHARE__
local auth, plan, step, clearing, reading

function start()
  local token = tokens[(tid % #tokens) + 1]
  auth = { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }
  plan, step, clearing, reading = {}, 0, false, false
end

local function new_plan()
  plan = {}
  local used = {}
  local n = math.random(3)
  while #plan < n do
    local m = math.random(#merchant_products)
    if not used[m] then
      used[m] = true
      local ps = merchant_products[m]
      table.insert(plan, ps[math.random(#ps)])
    end
  end
end

local function browse()
  local r = math.random()
  local list
  if r < 0.6 then list = product_paths
  elseif r < 0.8 then list = list_paths
  elseif r < 0.9 then list = search_paths
  else list = category_paths end
  return wrk.format("GET", list[math.random(#list)], auth)
end

function request()
  reading = false
  if clearing then
    return wrk.format("DELETE", "/api/v1/cart/clear", auth)
  end
  if step == 0 then
    if math.random() >= write_share then
      reading = true
      return browse()
    end
    new_plan()
  end
  if step < #plan then
    return wrk.format("POST", "/api/v1/cart/items", auth,
      '{"product_id":"' .. plan[step + 1] .. '","quantity":1}')
  end
  return wrk.format("POST", "/api/v1/orders", auth, checkout_body)
end

function response(status, headers, body)
  if status == 503 then busy = busy + 1 end
  if reading then
    if status ~= 200 then failed = failed + 1 end
    return
  end
  if clearing then
    clearing, step = false, 0
    return
  end
  if status ~= 201 then
    failed = failed + 1
    clearing = true
    step = 0
  elseif step < #plan then
    step = step + 1
  else
    orders = orders + 1
    step = 0
  end
end
