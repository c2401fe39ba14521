-- wrk script: each request asks for a page at a random cursor, so that no two requests in a row
-- share a cache key and the service answers from the database (bench B8's uncached list figure).
-- The path (with its query) and the cursor range come from the environment.
local path = os.getenv("WRK_PATH")
local low, high = tonumber(os.getenv("WRK_CURSOR_LOW")), tonumber(os.getenv("WRK_CURSOR_HIGH"))
math.randomseed(os.time())

request = function()
  return wrk.format("GET", path .. "&before=" .. math.random(low, high))
end
