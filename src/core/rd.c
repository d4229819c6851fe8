/*
 * Bounded reader over borrowed bytes and fixed-width loads/stores in both byte orders.
 * Trusts: nothing; every read compares the wanted length with what is left first.
 */
#include "medseal/core.h"

ms_rc ms_rd_take(ms_rd *r, size_t n, const uint8_t **out)
{
    if (n > r->left) /* compare, don't add */
        return MS_E_TRUNC;
    *out = r->p;
    r->p += n;
    r->left -= n;
    return MS_OK;
}

ms_rc ms_rd_skip(ms_rd *r, size_t n)
{
    const uint8_t *unused;
    return ms_rd_take(r, n, &unused);
}

uint16_t ms_load_u16le(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}
uint16_t ms_load_u16be(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}
uint32_t ms_load_u32le(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
uint32_t ms_load_u32be(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}
uint64_t ms_load_u64le(const uint8_t *p)
{
    return (uint64_t)ms_load_u32le(p) | ((uint64_t)ms_load_u32le(p + 4) << 32);
}
void ms_store_u16le(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
void ms_store_u32le(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
void ms_store_u64le(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
void ms_store_u16be(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
void ms_store_u32be(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (24 - 8 * i));
}
void ms_store_u64be(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (56 - 8 * i));
}

#define RD_FIXED(name, type, n, load)                                                              \
    ms_rc name(ms_rd *r, type *v)                                                                  \
    {                                                                                              \
        const uint8_t *p;                                                                          \
        if (ms_rd_take(r, n, &p) != MS_OK)                                                         \
            return MS_E_TRUNC;                                                                     \
        *v = load(p);                                                                              \
        return MS_OK;                                                                              \
    }

static uint8_t load_u8(const uint8_t *p)
{
    return p[0];
}
static uint64_t load_u64be(const uint8_t *p)
{
    return ((uint64_t)ms_load_u32be(p) << 32) | ms_load_u32be(p + 4);
}

RD_FIXED(ms_rd_u8, uint8_t, 1, load_u8)
RD_FIXED(ms_rd_u16le, uint16_t, 2, ms_load_u16le)
RD_FIXED(ms_rd_u16be, uint16_t, 2, ms_load_u16be)
RD_FIXED(ms_rd_u32le, uint32_t, 4, ms_load_u32le)
RD_FIXED(ms_rd_u32be, uint32_t, 4, ms_load_u32be)
RD_FIXED(ms_rd_u64le, uint64_t, 8, ms_load_u64le)
RD_FIXED(ms_rd_u64be, uint64_t, 8, load_u64be)
