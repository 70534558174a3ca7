/* sema_sym.c: the symbol table of sema, open addressing over names.
 *
 * The bottom of sema's three layers (sema.h): every other part of sema
 * looks names up and defines them here; this file calls none of them.
 */
#include "sema.h"

#include <string.h>

static unsigned name_hash(const char *s)
{
    unsigned h = 2166136261u;
    while (*s)
        h = (h ^ (unsigned char)*s++) * 16777619u;
    return h;
}

static Sym *slot_for(Sym *syms, int cap, const char *name)
{
    unsigned i = name_hash(name) & (unsigned)(cap - 1);
    while (syms[i].name && strcmp(syms[i].name, name) != 0)
        i = (i + 1) & (unsigned)(cap - 1);
    return &syms[i];
}

Sym *sema_lookup(Sema *s, const char *name)
{
    if (!s->cap_syms)
        return NULL;
    Sym *sym = slot_for(s->syms, s->cap_syms, name);
    return sym->name ? sym : NULL;
}

static void grow_syms(Sema *s)
{
    int cap = s->cap_syms ? 2 * s->cap_syms : 64;
    Sym *syms = arena_alloc(s->a, (size_t)cap * sizeof *syms);
    for (int i = 0; i < s->cap_syms; i++)
        if (s->syms[i].name)
            *slot_for(syms, cap, s->syms[i].name) = s->syms[i];
    s->syms = syms;
    s->cap_syms = cap;
}

/* Defines name, or reports a redefinition (with where the first one is)
 * and returns NULL. */
Sym *sema_define(Sema *s, const char *name, Loc loc, const Decl *decl)
{
    Sym *old = sema_lookup(s, name);
    if (old) {
        error_at(s->d, loc, "redefinition of '%s'", name);
        note_at(s->d, old->loc, "'%s' was first defined here", name);
        return NULL;
    }
    if (strcmp(name, "B") == 0) {
        error_at(s->d, loc, "'B' is the batch dimension and cannot be redefined");
        return NULL;
    }
    if (2 * (s->n_syms + 1) > s->cap_syms)
        grow_syms(s);
    Sym *sym = slot_for(s->syms, s->cap_syms, name);
    sym->name = name;
    sym->loc = loc;
    sym->decl = decl;
    sym->node = -1;
    s->n_syms++;
    return sym;
}
